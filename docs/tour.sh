#!/usr/bin/env bash
# A scripted tour of archive-manager on a throw-away archive. `make demo` runs it.
# Every command is printed before it runs; read this file as a walkthrough.
set -euo pipefail
umask 077                          # what the archive's account should use: passphrase files 0600
WORK=${1:-"$PWD/demo-home"}        # the demo's folder: the archive home, and beside it what people keep elsewhere
HOME_DIR="$WORK/archive"
rm -rf "$WORK"
mkdir -p "$HOME_DIR" "$WORK/secrets" "$WORK/incoming" "$WORK/out"
export ARCHIVE_HOME="$HOME_DIR"
export ARCHIVE_KDF_PROFILE=test   # cheap Argon2id for the demo only; real archives never set this

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
fails() { printf '$ %s   # expected to fail\n' "$*"; if "$@"; then echo "!! this should have failed"; exit 1; fi; }

for u in alice bob carol dave erin frank mona; do echo "$u-demo-passphrase" > "$WORK/secrets/$u"; done
as() { local u=$1; shift; ARCHIVE_USER=$u "$@" --passphrase-file "$WORK/secrets/$u"; }

step "1. Create the archive; alice is the first admin (archive department)"
run archive init --admin alice --passphrase-file "$WORK/secrets/alice"
run ls "$HOME_DIR"

step "2. Add colleagues: bob in legal, carol in credit (their class keys are sealed to them), dave the auditor"
run as alice archive user add bob --dept legal --new-passphrase-file "$WORK/secrets/bob"
run as alice archive user add carol --dept credit --new-passphrase-file "$WORK/secrets/carol"
run as alice archive user add dave --dept audit --new-passphrase-file "$WORK/secrets/dave"
run as alice archive user list

step "3. Admit a client: its dossier is created, the profile is basic information"
run as alice archive client add C001 --name "北京星辰传媒有限公司" --set legal_rep=张伟 --set address="北京市朝阳区建国路88号"
run as bob archive client show C001

step "4. File documents: a contract (legal) and a credit report (credit)"
cat > "$WORK/incoming/广告发布合同.txt" <<'DOC'
广告发布合同  合同编号 HT-2026-001
甲方：北京星辰传媒有限公司  乙方：本公司
合同金额：人民币 480,000 元，付款期限 2026-06-30。
DOC
printf 'credit report for C001: rating A-, overdue receivables 0\n' > "$WORK/incoming/credit-2026Q1.txt"
run as bob archive file "$WORK/incoming/广告发布合同.txt" --client C001 --type contract --date 2026-03-01 --json
run as carol archive file "$WORK/incoming/credit-2026Q1.txt" --client C001 --type credit-report --title "2026年一季度信用报告"
CONTRACT=$(as bob archive ls --type contract --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["doc_id"])')

step "5. Filing identical content again is a no-op that reports the existing id"
run as bob archive file "$WORK/incoming/广告发布合同.txt" --client C001 --type contract

step "6. Each department sees only its share"
run as alice archive ls
run as bob archive ls
run as carol archive ls
fails as carol archive ls --type contract
fails as carol archive get "$CONTRACT"

step "7. Read a document back: the original bytes, exactly"
run as bob archive get "$CONTRACT" -o "$WORK/out/contract-copy.txt"
run cmp "$WORK/incoming/广告发布合同.txt" "$WORK/out/contract-copy.txt"

step "8. An amended contract is a new version; the old one stays readable"
cp -a "$HOME_DIR/vault" "$WORK/vault-backup"   # an old backup, for step 19
sed 's/480,000/520,000/' "$WORK/incoming/广告发布合同.txt" > "$WORK/incoming/广告发布合同-v2.txt"
run as bob archive file "$WORK/incoming/广告发布合同-v2.txt" --client C001 --type contract --replaces "$CONTRACT"
run as bob archive get "$CONTRACT" --version 1

step "9. Search in Chinese and English: simplified finds traditional, fragments and codes work"
cat > "$WORK/incoming/催款會議紀要.txt" <<'DOC'
會議紀要：北京星辰傳媒有限公司應收賬款逾期四十五天，合同編號 HT-2026-001。
決定：發出催款函，並由法務部跟進。
DOC
run as alice archive file "$WORK/incoming/催款會議紀要.txt" --client C001 --type minutes --title "催款會議紀要"
run as alice archive search '应收账款 逾期'
run as alice archive search 星辰 --limit 5
run as bob archive search '"广告发布合同"' --type contract --since 2026-01-01
run as bob archive search 'HT-2026-001' --json

step "10. The inbox: drop files into inbox/<CLIENT>/<type>/, 'ingest' files them; what cannot be filed is quarantined"
run as alice archive client add C002 --name "上海明月广告有限公司"
mkdir -p "$HOME_DIR/inbox/C002/contract" "$HOME_DIR/inbox/C002/minutes" "$HOME_DIR/inbox/C009/contract"
printf '框架合同 合同编号 HT-2026-017\n甲方：上海明月广告有限公司\n' > "$HOME_DIR/inbox/C002/contract/框架合同.txt"
printf 'title = "明月框架合同"\ndate = 2026-04-01\ntags = ["框架"]\n' > "$HOME_DIR/inbox/C002/contract/框架合同.txt.toml"
printf 'Minutes: kickoff with 上海明月, budget approved\n' > "$HOME_DIR/inbox/C002/minutes/kickoff.txt"
printf 'not yet complete' > "$HOME_DIR/inbox/C002/minutes/scan.pdf.part"
printf 'a client we never admitted\n' > "$HOME_DIR/inbox/C009/contract/unknown.txt"
run find "$HOME_DIR/inbox" -type f
run as alice archive ingest
run cat "$HOME_DIR/inbox/.failed/C009/contract/unknown.txt.reason.txt"
run as alice archive search HT-2026-017
run as alice archive ls --client C002

step "10b. A scanned contract (red seal over its number): filed at once, found by its title; OCR reads it between filings"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
run python "$REPO/bench/scans.py" "$WORK/incoming/scans" --only contract-lease.jpg
cp "$WORK/incoming/scans/contract-lease.jpg" "$WORK/incoming/房屋租赁合同-扫描件.jpg"
run as alice archive file "$WORK/incoming/房屋租赁合同-扫描件.jpg" --client C002 --type contract --title "房屋租赁合同（扫描件）"
run as alice archive search HT-2026-6874            # not yet: its text is still to be read
run as alice archive ocr --pending
run as alice archive ocr                            # 'archive watch' does this by itself when the inbox is idle
run as alice archive search HT-2026-6874            # the number under the seal
run as alice archive ls --client C002

step "11. Paperwork: the receivables ledger and a dunning letter from a Word template, filed back into the dossier"
# The letterhead is signed with the policy (a file writer cannot redirect the payments of a dunning
# letter): alice edits policies/company.toml (or the admin desk's letterhead page), looks at the
# difference and signs it.
cat >> "$HOME_DIR/policies/company.toml" <<'TOML'
name = "北京示例广告有限公司"
address = "北京市朝阳区建国路1号"
phone = "010-12345678"
bank = "中国工商银行北京分行"
account = "0200001234567"
TOML
run as alice archive policy diff
run as alice archive policy sync
run as carol archive ledger add C001 --invoice INV-0042 --amount 128000.00 --due 2026-09-30
run as carol archive ledger add C001 --invoice INV-0043 --amount 16409.02 --due 2026-10-31
run as carol archive ledger list --overdue
run archive templates check
run as carol archive generate dunning-letter --client C001 -o "$WORK/out/催款函-C001.docx"
run as carol archive search 壹拾肆万肆仟肆佰零玖元零贰分 --type dunning-letter

step "12. Search sees only your classes: carol (credit) finds no contract and no minutes"
run as carol archive search 'HT-2026-001'
fails as carol archive search 'HT-2026-001' --type contract

step "12b. Client admission (客户准入): business applies; marketing, credit, legal and management sign in turn"
# Three more colleagues: erin applies for the business department, frank reviews for marketing, mona decides.
run as alice archive user add erin --dept business --display-name 赵敏 --new-passphrase-file "$WORK/secrets/erin"
run as alice archive user add frank --dept marketing --new-passphrase-file "$WORK/secrets/frank"
run as alice archive user add mona --dept management --new-passphrase-file "$WORK/secrets/mona"
printf '营业执照（副本）\n名称：杭州云帆文化传播有限公司\n统一社会信用代码：91330106MA2H00001X\n法定代表人：林晓\n' \
  > "$WORK/incoming/云帆-营业执照.txt"
# The application: the client gets the next free code and a dossier in status "applying"; the application
# and its attachment are filed encrypted in their classes, and erin's signed decision opens the record.
run as erin archive admission start --name "杭州云帆文化传播有限公司" --set legal_rep=林晓 \
  --set address="杭州市西湖区文三路100号" --set contact=王芳 --set needs="2027年地铁灯箱与户外大屏投放" \
  --set budget=800000 --attach "$WORK/incoming/云帆-营业执照.txt" --type business-license
read -r APP NEWCLIENT < <(as erin archive admission list --json | python3 -c 'import json,sys; a = json.load(sys.stdin)[-1]; print(a["application"], a["client"])')
run as frank archive admission list --mine          # marketing's queue: what waits for it, and how long
fails as carol archive admission review "$APP" --approve --opinion "资信良好" --set rating=A --set credit_limit=300000   # not yet: it waits for marketing
run as frank archive admission review "$APP" --approve --opinion "资质齐全，投放需求与预算相符。"      # marketing: 初审
run as carol archive admission review "$APP" --return --opinion "请补充近两年主要合作项目及付款情况。"  # credit: 信用评估, returned for more
run as erin archive admission list --mine           # back with the applicant
printf '近两年主要合作项目及付款情况\n2025年 上海某传媒 户外投放 合同额60万元 按期付款\n2026年 杭州某商场 灯箱投放 合同额35万元 按期付款\n' \
  > "$WORK/incoming/云帆-合作情况说明.txt"
run as erin archive admission resubmit "$APP" --attach "$WORK/incoming/云帆-合作情况说明.txt" --type qualification \
  --note "已补充近两年合作项目及付款情况"
printf 'credit report for 杭州云帆文化传播有限公司: rating A, no overdue payments in 24 months\n' > "$WORK/incoming/云帆-信用报告.txt"
run as carol archive admission review "$APP" --approve --opinion "资信良好，近两年付款及时。" \
  --set rating=A --set credit_limit=300000 --attach "$WORK/incoming/云帆-信用报告.txt" --type credit-report
run as bob archive admission review "$APP" --approve --opinion "业务需求合法合规，投放内容无禁止情形。"   # legal: 合规审查
# management (决策): the last approval admits the client, sets its credit terms and files the admission form
# (made with the letterhead signed in step 11).
run as mona archive admission review "$APP" --approve --opinion "同意准入。"
run as mona archive admission show "$APP"          # every opinion, signed by its reviewer; mona holds all their classes
run as bob archive admission show "$APP"           # legal does not hold business or credit: those opinions stay closed
run as carol archive client show "$NEWCLIENT"
run as carol archive client due                    # clients registered with 'client add' were never assessed: due now
run as carol archive client status "$NEWCLIENT" suspended --reason "回款逾期，暂停合作待复评"
run as mona archive client status "$NEWCLIENT" admitted --reason "逾期款项已结清，恢复合作"
run as carol archive ledger add "$NEWCLIENT" --invoice INV-0101 --amount 180000.00 --due 2027-01-31
run as carol archive ledger add "$NEWCLIENT" --invoice INV-0102 --amount 150000.00 --due 2027-02-28   # over its limit: a warning
run as carol archive ledger list --over-limit

step "13. The index is encrypted too (one SQLCipher database per class); a damaged index is refused, and reindex rebuilds it"
run ls "$HOME_DIR/index"
if grep -rl "星辰\|HT-2026\|广告发布\|應收賬款\|云帆" "$HOME_DIR/index"; then echo "!! plaintext found"; exit 1; else echo "(grep found no plaintext in index/)"; fi
python3 - "$HOME_DIR/index/contract.db" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
for i in range(2048, len(b), 4096):  # a bit flipped in every page: whatever a search reads fails its HMAC
    b[i] ^= 1
open(p, "wb").write(bytes(b))
PY
fails as bob archive search 合同
run as alice archive reindex --if-needed
run as bob archive search 合同

step "14. Nothing readable at rest: no client name, title or file name in the vault"
run find "$HOME_DIR/vault" -type f
if grep -rl "星辰\|HT-2026\|广告发布\|云帆\|林晓" "$HOME_DIR/vault"; then echo "!! plaintext found"; exit 1; else echo "(grep found no plaintext)"; fi

step "15. Impersonation without the passphrase gets nothing"
fails env ARCHIVE_USER=bob ARCHIVE_PASSPHRASE=guess archive ls

step "16. Verify authenticates every stored byte"
run as alice archive verify

step "16b. Writing the files gives no access: a grant edited by hand waits for an admin's signature, a user added by hand is refused"
cp "$HOME_DIR/policies/grants.toml" "$WORK/grants.toml.bak"
sed -i '/^\[marketing\]/,/^actions/s/classes = \["basic", "business"\]/classes = ["basic", "business", "contract"]/' "$HOME_DIR/policies/grants.toml"
fails as carol archive ls                       # exit 6: the files differ from the signed policy
run as alice archive policy diff
cp "$WORK/grants.toml.bak" "$HOME_DIR/policies/grants.toml"   # alice does not sign it: put back
cp "$HOME_DIR/vault/users.json" "$WORK/users.json.bak"
python3 - "$HOME_DIR/vault/users.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p, encoding="utf-8"))
d["users"]["carol"]["departments"] = ["credit", "legal"]   # carol's record, edited by hand
open(p, "w", encoding="utf-8").write(json.dumps(d, ensure_ascii=False))
PY
fails as carol archive ls                       # exit 5: carol's record is not what an admin signed
cp "$WORK/users.json.bak" "$HOME_DIR/vault/users.json"
run as carol archive ls --type credit-report

step "17. Removing bob rotates the keys he held; his keyring opens nothing filed afterwards"
run as alice archive user remove bob
fails as bob archive ls
run as alice archive search 合同 --type contract   # the contract index was re-encrypted under the new key

step "18. The audit trail: every action and refusal, signed and chained; details only auditors can read"
run as dave archive audit log --action search
run as dave archive audit log --action denied
fails as carol archive audit log
if grep -l "应收账款\|星辰\|广告发布\|催款\|云帆\|资信良好" "$HOME_DIR"/audit/*; then echo "!! plaintext found"; exit 1; else echo "(grep found no query, title or client name in audit/)"; fi
run env -u ARCHIVE_USER archive audit verify      # anyone can check it: public keys only, no passphrase
run as dave archive audit checkpoint -o "$WORK/secrets/checkpoint.json"   # keep this line off the machine

step "18b. The archive in the browser: 'archive serve', carol signs in, searches, signs out"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '$ archive serve --port %s &\n' "$PORT"
archive serve --port "$PORT" & SERVER=$!
for _ in $(seq 100); do python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/signin')" 2>/dev/null && break; sleep 0.1; done
run python3 "$(dirname "$0")/screenshots.py" "http://127.0.0.1:$PORT" carol "$WORK/secrets/carol" "$WORK/screenshots" --all
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true   # the server ends carol's sign-in, if still open, with it
run as dave archive audit log --action login --user carol

step "19. Tampering is detected: a dossier rolled back to an old backup, a flipped byte, an edited event"
for old in "$WORK"/vault-backup/dossiers/*/*/; do   # each slot's metadata (its base and records) as backed up
  rel=${old#"$WORK"/vault-backup/}; rm -rf "$HOME_DIR/vault/$rel/meta"
  cp -a "$old/meta.bin" "$HOME_DIR/vault/$rel/meta.bin"; if [ -d "$old/meta" ]; then cp -a "$old/meta" "$HOME_DIR/vault/$rel/meta"; fi
done
fails as alice archive verify
victim=$(find "$HOME_DIR/vault/dossiers" -path '*objects*' -type f -print -quit)   # -quit: no pipe to break under pipefail
python3 - "$victim" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-20] ^= 1; open(p, "wb").write(bytes(b))
PY
fails as alice archive verify
cp "$HOME_DIR/audit/events.log" "$WORK/events.log.bak"
sed -i '0,/"outcome":"denied"/s//"outcome":"ok"/' "$HOME_DIR/audit/events.log"
fails env -u ARCHIVE_USER archive audit verify
head -n 3 "$WORK/events.log.bak" > "$HOME_DIR/audit/events.log"; rm "$HOME_DIR/audit/checkpoints.log"
fails env -u ARCHIVE_USER archive audit verify --checkpoint "$WORK/secrets/checkpoint.json"

step "Tour complete. The demo archive is in $HOME_DIR (delete it freely)."
