"""Benchmark: the product's search index (one SQLCipher FTS5 database per
access class, ``archive_manager/index/``) on a synthetic corpus.

    .venv/bin/python bench/search.py [--docs 10000 | --large] [--workdir DIR] [--seed 1]

Builds a deterministic synthetic corpus of mixed Chinese/English business
documents (contracts, meeting minutes, complaints, e-mails; 2-4k characters,
about 20% in traditional script) in memory and prints, in one run:

- corpus generation time (context only);
- analyser throughput (fold + ``index_columns``, the seven token columns the
  engine gets) in MB/s of UTF-8 text, and rjieba alone vs jieba alone on the
  same sample (jieba is in the ``bench`` extra; skipped if missing);
- a bulk rebuild of the whole corpus (``ClassIndex.rebuild``, as ``archive
  reindex`` calls it once the text is extracted) in a forked process: docs/s,
  wall and CPU seconds, the analyser's share, and the process's peak RSS;
- the filing path: one commit per document into the full index (a fresh
  ``ClassIndex`` per commit, as ``IndexBatch`` without kept indexes does), and
  commits of ``--batch`` documents on one open index (as the inbox does);
- warm search latency p50/p95/max over a fixed set of 32 queries
  (``queries()``), each a complete ``search_classes`` (BM25, counting,
  snippets); the first search (opening the database) apart;
- the index size on disk and peak RSS.

Side-by-side figures against other engines (bare SQLite FTS5, Whoosh,
tantivy) are ``bench/engines.py``; the reindex of a real archive is
``bench/reindex.py``; everything at 100,000 documents is ``bench/scale.py``.

Corpus: 200 clients (C001 北京星辰传媒有限公司, C002 上海东方广告有限公司,
...), a few big ones and a long tail; each client's documents go to one of
50 dossier slots; dates 2024-2026; contract numbers HT-YYYY-NNN.

Targets (issue 14, measured at 100,000 documents by ``bench/scale.py``; here
for context): rebuild >= 150 docs/s with the text already extracted, warm
search p95 <= 30 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive_manager.index import (ClassIndex, IndexDocument, IndexKeys, compile_query,  # noqa: E402
                                   search_classes, slot_digest)
from archive_manager.index.analysis import COLUMNS, fold, fold_text, index_columns  # noqa: E402

ACCESS_CLASS = "bench"
N_CLIENTS = 200
N_SLOTS = 50
FILING_SAMPLE = 50
SEARCH_ROUNDS = 5
B32 = "abcdefghijklmnopqrstuvwxyz234567"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def ms(ns: float) -> float:
    return ns / 1e6


# --- corpus ------------------------------------------------------------------

CITIES = "北京 上海 广州 深圳 杭州 成都 武汉 南京 重庆 西安 苏州 天津 长沙 青岛 厦门 宁波 郑州 合肥 福州 昆明".split()
BRANDS = ("星辰 东方 华美 天行 蓝海 金穗 云帆 盛世 锦程 博雅 鸿图 瑞丰 恒信 新元 汇通 嘉禾 明德 远景 光华 卓越 "
          "正大 智联 百川 和润 永盛 银河 青松 紫荆 海纳 长虹").split()
INDUSTRIES = "传媒 广告 文化传播 科技 食品 汽车销售 置业 电子商务 品牌管理 餐饮管理 医药 服饰 教育科技 体育用品 旅游发展".split()
SUFFIXES = ["有限公司", "有限公司", "有限公司", "股份有限公司", "集团有限公司"]
AGENCY = "华夏视界广告有限公司"
AGENCY_MAIL = "huaxia-ad.com"
SURNAMES = {"王": "Wang", "李": "Li", "张": "Zhang", "刘": "Liu", "陈": "Chen", "杨": "Yang", "黄": "Huang",
            "赵": "Zhao", "吴": "Wu", "周": "Zhou", "徐": "Xu", "孙": "Sun", "马": "Ma", "朱": "Zhu", "胡": "Hu",
            "郭": "Guo", "何": "He", "林": "Lin", "罗": "Luo", "高": "Gao"}
GIVEN = {"伟": "wei", "娜": "na", "敏": "min", "静": "jing", "磊": "lei", "洋": "yang", "艳": "yan", "勇": "yong",
         "军": "jun", "杰": "jie", "娟": "juan", "涛": "tao", "明": "ming", "超": "chao", "丽": "li", "强": "qiang",
         "婷": "ting", "晨": "chen", "宇轩": "yuxuan", "秀英": "xiuying", "志刚": "zhigang", "海燕": "haiyan"}
MEDIA = ("户外大屏 地铁灯箱 公交车身 电梯海报 机场LED屏 微信朋友圈广告 抖音信息流 小红书种草笔记 微博开屏 今日头条信息流 "
         "省级卫视黄金时段 交通广播 高铁站数字媒体 写字楼LCD 影院映前广告 百度搜索推广").split()
PRODUCTS = "新品上市 年货节 周年庆 618大促 双十一 品牌焕新 门店开业 春季新款 会员招募 校园推广 城市路演 新能源车型".split()
ISSUES = ("广告投放时段与排期表不一致 素材未按约定版本上线 第三方监测数据与媒体报告不一致 户外画面破损未及时更换 "
          "发票抬头错误 结算金额与合同约定不符 客服响应不及时 竞品广告相邻投放 曝光量未达到合同约定的KPI "
          "投放城市遗漏 创意稿多次修改后仍未确认 直播活动现场音响故障").split()
TOPICS = "季度投放复盘 年度框架合同续签 新品上市传播方案 预算调整 应收账款催收 媒体资源排期 创意提案评审 危机公关预案".split()
SUBJECTS = ["the amendment to contract {contract}", "media plan for {product}", "invoice for {month}",
            "payment reminder {contract}", "creative brief: {product}", "Q{q} campaign report", "meeting minutes {date}"]


def doc_token(rng: random.Random) -> str:
    return "".join(rng.choice(B32) for _ in range(8))


def cn_upper(n: int) -> str:
    """An integer amount of yuan in Chinese capital numerals (壹佰贰拾伍万元整)."""
    digits, units, big = "零壹贰叁肆伍陆柒捌玖", ["仟", "佰", "拾", ""], ["", "万", "亿"]

    def group(g: int) -> str:
        s, zero = "", False
        for i, ch in enumerate(f"{g:04d}"):
            d = int(ch)
            if d == 0:
                zero = bool(s)
            else:
                s += ("零" if zero else "") + digits[d] + units[i]
                zero = False
        return s

    if n == 0:
        return "零元整"
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    out, gap = "", False
    for i in reversed(range(len(groups))):
        g = groups[i]
        if g == 0:
            gap = bool(out)
            continue
        if out and (gap or g < 1000):
            out += "零"
        out += group(g) + big[i]
        gap = False
    return out + "元整"


@dataclass
class Client:
    code: str
    name: str
    short: str
    slot: str
    contact: tuple[str, str]  # (Chinese name, English "Ms. Wang")


def make_clients(rng: random.Random) -> list[Client]:
    names = ["北京星辰传媒有限公司", "上海东方广告有限公司"]
    while len(names) < N_CLIENTS:
        name = rng.choice(CITIES) + rng.choice(BRANDS) + rng.choice(INDUSTRIES) + rng.choice(SUFFIXES)
        if name not in names:
            names.append(name)
    slots = ["".join(rng.choice(B32) for _ in range(16)) for _ in range(N_SLOTS)]
    out = []
    for i, name in enumerate(names):
        sur, given = rng.choice(list(SURNAMES)), rng.choice(list(GIVEN))
        title = rng.choice(["Ms.", "Mr."])
        short = name[2:4]
        out.append(Client(f"C{i + 1:03d}", name, short, slots[i % N_SLOTS], (sur + given, f"{title} {SURNAMES[sur]}")))
    return out


def person(rng: random.Random) -> str:
    return rng.choice(list(SURNAMES)) + rng.choice(list(GIVEN))


def pinyin_mail(rng: random.Random, domain: str) -> str:
    sur, given = rng.choice(list(SURNAMES)), rng.choice(list(GIVEN))
    return f"{GIVEN[given]}.{SURNAMES[sur].lower()}@{domain}"


CONTRACT_PARAS = [
    "第{n}条 合作内容\n乙方接受甲方委托，为甲方“{product}”项目提供广告策划、创意设计、媒体采购及投放执行服务。"
    "投放媒体包括{media}、{media2}等，具体排期以双方确认的《媒体排期表》为准，排期表作为本合同附件，与本合同具有同等法律效力。",
    "第{n}条 发布时间与地点\n广告发布期间自{date}起至{date2}止，发布城市为{city}、{city2}。如因不可抗力或政府政策原因导致发布中断，"
    "乙方应在二十四小时内书面通知甲方，并在条件恢复后补足发布天数。",
    "第{n}条 合同金额\n本合同总金额为人民币 {amount} 元（大写：{amount_cn}），含增值税。其中媒体费用人民币 {amount2} 元，"
    "服务费按媒体费用的{pct}%计收。合同金额不因汇率、媒体刊例价调整而变动。",
    "第{n}条 付款方式\n甲方应于合同签订后{days}个工作日内支付合同总金额的{pct2}%作为预付款；广告上线并经第三方监测确认后，"
    "甲方应于收到乙方开具的增值税专用发票后{days2}日内支付剩余款项。逾期付款的，每逾期一日按应付未付金额的万分之五支付违约金，"
    "乙方有权将逾期款项计入应收账款并暂停后续投放。",
    "第{n}条 监测与验收\n乙方应委托具备资质的第三方监测机构对{media}的发布情况进行监测，并于每月{day}日前向甲方提交上月监测报告。"
    "监测数据显示曝光量低于约定KPI的{pct}%时，乙方应免费补播或按比例退还相应费用。",
    "第{n}条 知识产权\n乙方为本项目创作的创意方案、设计稿、视频素材等作品，其著作权自甲方付清全部款项之日起归甲方所有。"
    "甲方提供的商标、标识及产品图片，乙方仅可在本合同约定范围内使用。",
    "第{n}条 保密条款\n双方对在合作过程中知悉的对方商业秘密、客户信息、价格政策及未公开的营销计划负有保密义务，"
    "保密期限自本合同签订之日起至合同终止后三年。任何一方违反保密义务的，应赔偿对方因此遭受的全部损失。",
    "第{n}条 违约责任\n任何一方违反本合同约定的，应承担违约责任，并赔偿守约方因此遭受的直接经济损失。"
    "乙方未按排期表发布广告累计超过{days}天的，甲方有权解除合同，并要求乙方退还已付款项中未发布部分对应的费用。",
    "第{n}条 合同变更\n合同履行期间，如需调整投放媒体、排期或金额，双方应签订书面补充协议。补充协议与本合同不一致的，以补充协议为准。",
    "第{n}条 争议解决\n因本合同引起的或与本合同有关的任何争议，双方应友好协商解决；协商不成的，任何一方均可向{city}仲裁委员会申请仲裁。",
    "第{n}条 广告内容审查\n甲方保证其提供的广告内容真实、合法，符合《中华人民共和国广告法》及相关法规的规定。"
    "因广告内容违法违规引起的行政处罚或第三方索赔，由甲方承担全部责任。",
    "第{n}条 通知与送达\n双方指定的联系人分别为甲方{contact}（电话 1{phone}）与乙方{person}（邮箱 {mail}）。"
    "一方变更联系人或联系方式的，应提前五个工作日书面通知另一方。",
]

MINUTES_PARAS = [
    "{n}、{topic}\n{person}介绍了{product}项目的整体进展：截至{date}，{media}累计曝光{imps}万次，点击率{ctr}%，"
    "高于行业平均水平。客户对前期效果基本满意，但希望在{city}增加投放频次。",
    "{n}、预算与付款\n财务部{person2}通报，合同编号{contract}项下尚有人民币 {amount} 元应收账款逾期未付，逾期天数已达{days}天。"
    "会议决定由客户经理{person}于本周内与{contact}沟通付款计划，必要时发出催款函。",
    "{n}、媒体排期\n媒介部提出将{media2}的投放时间调整至{date2}之后，以避开竞品集中投放期。"
    "客户方{contact}表示需内部审批，预计{days2}个工作日内给出书面答复。",
    "{n}、创意与素材\n创意团队展示了三套{product}主视觉方案，客户倾向于第二套，要求调整主色调并突出品牌标识。"
    "修改稿须于{date2}前提交，最终版本以客户邮件确认为准。",
    "{n}、数据监测\n双方同意由第三方监测机构出具月度报告，重点关注曝光量、到达率和转化率三项KPI，ROI目标设定为{pct}:1。",
    "{n}、待办事项\n1. {person}：整理本次会议纪要并发送全体参会人员；\n2. {person2}：核对发票与结算单，更新应收账款台账；\n"
    "3. 媒介部：更新媒体排期表并提交客户确认；\n4. 法务部：审核补充协议文本。",
    "{n}、其他事项\n客户提出明年度框架合同续签意向，预计年度预算约为人民币 {amount2} 元，双方约定于{date2}前完成续签谈判。",
    "讨论中，{contact}指出上月{city}地区的{media}监测数据与媒体方报告存在差异，要求乙方在三个工作日内提供说明。"
    "{person}表示将与监测机构核对原始数据，如确有偏差将按合同约定补播。",
]

COMPLAINT_PARAS = [
    "投诉内容\n客户{contact}于{date}来电反映：{issue}。客户认为该问题影响了{product}活动的整体效果，要求我方给出书面解释并提出补偿方案。",
    "情况核实\n经客户服务部{person}核实，{media}在{city}的部分点位于{date2}出现{issue2}的情况，涉及合同编号{contract}项下约{pct}%的投放量。",
    "处理过程\n1. {date}：受理投诉，登记编号{complaint}；\n2. 次日：联系媒体供应商调取播出记录和监测截图；\n"
    "3. 三个工作日内：向客户提交初步调查报告；\n4. 与客户协商补偿方案，包括免费补播{days}天或退还费用人民币 {amount} 元。",
    "原因分析\n问题的直接原因是媒体供应商未按最新排期表执行，内部原因是我方项目组在排期变更后未及时复核上刊情况。",
    "整改措施\n一、建立上刊前双人复核制度；二、每日抽查{media}点位照片并存档；三、对相关责任人进行通报批评；"
    "四、将本次投诉纳入供应商年度考核。",
    "客户反馈\n客户对处理结果表示基本满意，满意度评分为{score}分（满分5分），但要求在后续合作中加强沟通，重大排期变更须提前邮件确认。",
    "回访记录\n{date2}，{person2}对客户进行电话回访，客户确认补播已完成，监测数据正常，本次投诉办结。",
]

EMAIL_OPEN = "Dear {contact_en},\n\nThank you for your time on the call yesterday."
EMAIL_CLOSE = "Best regards,\n{me}\nAccount Manager, {agency_en}\nTel: +86 1{phone}  Email: {mail}"
EMAIL_EN = [
    "Please find attached the amendment to contract "
    "{contract}, which updates the media schedule for {product} and the payment terms we discussed.",
    "As agreed, the total budget remains RMB {amount}, and the first installment of {pct2}% is due within {days} working "
    "days of signing. Please let me know if your legal team has any comments on the revised clauses.",
    "I would also like to confirm the campaign timeline: the creative assets should be final by {date}, and the "
    "launch on {media_en} is scheduled for {date2}. The third-party monitoring report will be shared monthly.",
    "Our records show that invoice INV-{year}-{inv} is now {days2} days overdue. We would appreciate it if you could "
    "arrange the payment at your earliest convenience, or let us know if there is any issue with the invoice.",
    "Regarding the KPI review, impressions reached {imps_en} with a CTR of {ctr}%, slightly above the benchmark. "
    "We recommend shifting part of the budget to the better performing channels in {city_en}.",
]
EMAIL_ZH = [
    "{contact}您好：\n附件为合同编号{contract}的补充协议草案，主要调整了{media}的投放排期及付款节点，请贵司法务审阅。",
    "另外，关于上月的结算单，我方核对后发现金额与合同约定存在人民币 {amount2} 元的差异，已请财务部重新开具发票。",
    "如对本次调整有任何疑问，请随时与我联系。我们将在{date2}前提交修改后的媒体排期表和创意方案。",
    "补充说明：根据会议纪要，{product}项目在{city}的户外投放将延后一周，相关费用不作调整。",
]
MEDIA_EN = ["outdoor LED screens", "metro light boxes", "WeChat Moments ads", "Douyin feeds", "airport displays",
            "elevator posters", "Xiaohongshu notes", "TV prime time"]
CITY_EN = ["Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Hangzhou", "Chengdu"]


class CorpusMaker:
    def __init__(self, seed: int) -> None:
        import opencc

        self.rng = random.Random(seed)
        self.clients = make_clients(self.rng)
        self.s2t = opencc.OpenCC("s2t")
        self.counters: dict[str, int] = {}
        self.ids: set[str] = set()

    def _next(self, prefix: str, year: int) -> str:
        key = f"{prefix}-{year}"
        self.counters[key] = self.counters.get(key, 0) + 1
        return f"{key}-{self.counters[key]:03d}"

    def _date(self) -> tuple[int, str]:
        year = self.rng.choice((2024, 2025, 2026))
        return year, f"{year}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"

    def _values(self, client: Client, year: int) -> dict:
        r = self.rng
        amount = r.randint(5, 800) * 10_000 + r.choice((0, 0, 5_000, 2_500))
        cn_date = lambda: f"{r.choice((2024, 2025, 2026))}年{r.randint(1, 12)}月{r.randint(1, 28)}日"  # noqa: E731
        return {
            "n": 1, "product": r.choice(PRODUCTS), "media": r.choice(MEDIA), "media2": r.choice(MEDIA),
            "date": cn_date(), "date2": cn_date(), "city": r.choice(CITIES), "city2": r.choice(CITIES),
            "amount": f"{amount:,.2f}", "amount_cn": cn_upper(amount), "amount2": f"{amount * r.randint(3, 9) // 10:,.2f}",
            "pct": r.choice((5, 8, 10, 15, 20, 30)), "pct2": r.choice((30, 40, 50)), "days": r.randint(3, 60),
            "days2": r.randint(5, 45), "day": r.randint(1, 15), "contact": client.contact[0],
            "contact_en": client.contact[1], "person": person(r), "person2": person(r),
            "mail": pinyin_mail(r, AGENCY_MAIL), "phone": "".join(r.choice("0123456789") for _ in range(10)),
            "topic": r.choice(TOPICS), "imps": (imps := r.randint(50, 9000)), "imps_en": f"{imps * 10_000:,}", "ctr": f"{r.uniform(0.3, 4.5):.2f}",
            "contract": f"HT-{r.choice((2024, 2025, 2026))}-{r.randint(1, 120):03d}", "issue": r.choice(ISSUES),
            "issue2": r.choice(ISSUES), "score": r.choice((3, 3.5, 4, 4.5, 5)),
            "media_en": r.choice(MEDIA_EN), "city_en": r.choice(CITY_EN), "year": year,
            "inv": r.randint(1000, 9999), "me": f"{r.choice(['Kevin', 'Lily', 'Grace', 'Jason'])} {r.choice(list(SURNAMES.values()))}",
            "agency_en": "Huaxia Vision Advertising Co., Ltd.", "month": r.choice(["March", "June", "September", "December"]),
            "q": r.randint(1, 4),
        }

    def _fill(self, header: str, pools: list[list[str]], fixed: dict, client: Client, year: int,
              target: int) -> str:
        """Paragraphs drawn from ``pools`` in turn, each with fresh values except ``fixed``,
        until ``target`` characters; cut at a sentence end."""
        r = self.rng
        parts, size, n = [header], len(header), 0
        orders = [r.sample(pool, len(pool)) for pool in pools]
        while size < target:
            pool = orders[n % len(orders)]
            v = {**self._values(client, year), **fixed, "n": "一二三四五六七八九十"[min(9, len(parts) - 1)]}
            para = pool[(n // len(orders)) % len(pool)].format(**v)
            parts.append(para)
            size += len(para) + 2
            n += 1
            if n % (len(orders) * min(len(p) for p in pools)) == 0:
                orders = [r.sample(p, len(p)) for p in pools]
        text = "\n\n".join(parts)
        cut = max(text.rfind("。", 0, target), text.rfind("\n", 0, target))
        return text[: cut + 1] if cut > target // 2 else text[:target]

    def document(self, i: int) -> IndexDocument:
        r = self.rng
        # a few big clients, a long tail
        client = self.clients[min(int(r.paretovariate(1.2)) - 1, N_CLIENTS - 1) if r.random() < 0.2
                              else r.randrange(N_CLIENTS)]
        year, date = self._date()
        v = self._values(client, year)
        target = r.randint(2000, 4000)
        kind = r.choices(("contract", "minutes", "complaint", "email"), (30, 25, 15, 30))[0]
        if kind == "contract":
            number = self._next("HT", year)
            title = r.choice(["广告发布合同", "品牌推广服务合同", "媒体投放框架协议", "户外广告发布合同",
                              f"补充协议（{number}）", "数字营销服务合同"])
            header = (f"{title}\n合同编号：{number}\n签订日期：{date}\n甲方（委托方）：{client.name}\n"
                      f"乙方（受托方）：{AGENCY}\n\n甲乙双方本着平等互利的原则，经友好协商，就甲方委托乙方发布广告事宜达成如下协议：")
            text = self._fill(header, [CONTRACT_PARAS], {"contract": number}, client, year, target)
        elif kind == "minutes":
            title = f"{client.short}{v['topic']}会议纪要"
            header = (f"会议纪要\n会议主题：{v['topic']}\n时间：{date} 14:00-16:30\n地点：{AGENCY}{r.randint(3, 28)}楼会议室\n"
                      f"参会人员：{client.name} {client.contact[0]}；我方 {person(r)}、{person(r)}、{person(r)}\n"
                      f"记录人：{person(r)}")
            text = self._fill(header, [MINUTES_PARAS], {"topic": v["topic"]}, client, year, target)
        elif kind == "complaint":
            number = self._next("TS", year)
            title = f"客户投诉处理记录 {number}"
            header = (f"客户投诉处理记录\n投诉编号：{number}\n客户名称：{client.name}（{client.code}）\n"
                      f"受理日期：{date}\n投诉类别：{r.choice(['投放质量', '结算争议', '服务态度', '创意质量'])}")
            text = self._fill(header, [COMPLAINT_PARAS], {"complaint": number}, client, year, target)
        else:
            subject = r.choice(SUBJECTS).format(**{**v, "date": date})
            title = f"Re: {subject}"
            header = (f"From: {v['mail']}\nTo: {pinyin_mail(r, 'client.cn')}\nDate: {date}\nSubject: {title}\n"
                      f"Client: {client.name}\n\n" + EMAIL_OPEN.format(**v))
            close = EMAIL_CLOSE.format(**v)
            text = self._fill(header, [EMAIL_EN, EMAIL_ZH], {}, client, year, target - len(close) - 2)
            text = text.rstrip() + "\n\n" + close
        if r.random() < 0.2:
            title, text = self.s2t.convert(title), self.s2t.convert(text)
        while (doc_id := f"{client.code}-{doc_token(r)}") in self.ids:
            pass
        self.ids.add(doc_id)
        return IndexDocument(doc_id, client.code, client.slot, kind, title, date, 1, text)

    def corpus(self, n: int) -> list[IndexDocument]:
        return [self.document(i) for i in range(n)]


def by_slot(docs: list[IndexDocument]) -> dict[str, tuple[str, list[IndexDocument]]]:
    """{slot: (digest of its documents' newest versions, documents)}, as reindexing passes them."""
    slots: dict[str, list[IndexDocument]] = {}
    for d in docs:
        slots.setdefault(d.slot, []).append(d)
    return {s: (slot_digest({d.doc_id: d.version for d in ds}), ds) for s, ds in slots.items()}


# --- indexes -----------------------------------------------------------------

BENCH_KEY = bytes(range(32))
BENCH_BINDING = '["am",1,"index","bench"]'


def make_index(folder: Path, access_class: str = ACCESS_CLASS) -> ClassIndex:
    """The product's class index ``folder.db`` under a fixed raw key."""
    return ClassIndex(folder, access_class, IndexKeys(1, lambda g: BENCH_KEY), BENCH_BINDING, os.urandom)


def tree_size(folder: Path) -> tuple[int, int]:
    """(bytes, files) under ``folder`` (or of the file ``folder``)."""
    if folder.is_file():
        return folder.stat().st_size, 1
    total = count = 0
    for root, _, files in os.walk(folder):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
            count += 1
    return total, count


def index_size(index: ClassIndex) -> int:
    """Bytes of the database and its write-ahead log."""
    return sum(os.path.getsize(p) for p in (index.path, Path(f"{index.path}-wal")) if os.path.exists(p))


def settle() -> None:
    """Flush dirty pages of earlier steps so their writeback does not land in the next timing."""
    gc.collect()
    os.sync()


class Clock:
    """Wall and CPU seconds (``time.process_time``: every thread of this process) of a block."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def in_child(fn, *args):
    """``fn(*args)`` in a forked child process; its JSON-able result. The
    child's peak RSS (``ru_maxrss``) is added as ``peak_rss``, and its RSS
    when it started (the pages it shares with the parent) as ``rss_at_fork``."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        code = 0
        try:
            at_fork = rss_mb()
            result = {"ok": fn(*args), "peak_rss": peak_rss_mb(), "rss_at_fork": at_fork}
        except BaseException as exc:  # reported by the parent
            import traceback

            result, code = {"error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"}, 1
        with os.fdopen(w, "w") as fh:
            json.dump(result, fh)
        os._exit(code)
    os.close(w)
    with os.fdopen(r) as fh:
        result = json.loads(fh.read() or '{"error": "child died"}')
    os.waitpid(pid, 0)
    if "error" in result:
        raise RuntimeError(f"child process failed: {result['error']}")
    out = result["ok"]
    if isinstance(out, dict):
        out.update(peak_rss=result["peak_rss"], rss_at_fork=result["rss_at_fork"])
    return out


# --- measurements --------------------------------------------------------------

def analyse(docs: list[IndexDocument]) -> tuple[dict[str, tuple[str, ...]], float]:
    """The token columns of every document, as ``IndexDocument.columns`` makes
    them; and the CPU seconds that took."""
    t = time.process_time()
    out = {}
    for d in docs:
        out[d.doc_id] = IndexDocument.columns(d)  # the analyser's columns and the fields' tokens
    return out, time.process_time() - t


def bench_tokeniser(docs: list[IndexDocument], sample_docs: int) -> float:
    """Analyser throughput; returns its CPU seconds per document."""
    texts = [d.title + "\n" + d.text for d in docs]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    t = time.process_time()
    folded = [(fold(d.title).text, fold(d.text).text) for d in docs]
    fold_s = time.process_time() - t
    t = time.process_time()
    columns = [index_columns(title, text) for title, text in folded]
    cols_s = time.process_time() - t
    tokens = sum(len(v.split(" ")) for c in columns for v in c.values() if v)
    full_s = fold_s + cols_s
    print(f"analyser (fold+columns)    : {mb / full_s:7.2f} MB/s  ({mb:.1f} MB in {full_s:.1f} CPU s; "
          f"{tokens / full_s / 1e3:.0f}k tokens/s, {tokens / len(docs):.0f} tokens per doc in {len(COLUMNS)} columns)")
    print(f"  fold / index_columns     : {mb / fold_s:7.2f} / {mb / cols_s:.2f} MB/s  ({fold_s:.1f} / {cols_s:.1f} CPU s)")
    del folded, columns

    try:
        import jieba
    except ImportError:
        print("jieba                      : not installed (pip install '.[bench]'); rjieba vs jieba skipped")
        return full_s / len(docs)
    import rjieba

    sample = [fold(t).text for t in texts[:sample_docs]]
    smb = sum(len(t.encode("utf-8")) for t in sample) / 1e6
    jieba.setLogLevel(60)
    jieba.initialize()
    rjieba.cut("初始化")
    timings = {}
    for name, fn in (("r_cut", rjieba.cut), ("r_tok", rjieba.tokenize), ("j_cut", jieba.lcut),
                     ("j_tok", lambda s: list(jieba.tokenize(s)))):
        t = time.perf_counter()
        for text in sample:
            fn(text)
        timings[name] = time.perf_counter() - t
    print(f"rjieba cut / tokenize      : {smb / timings['r_cut']:7.2f} / {smb / timings['r_tok']:.2f} MB/s  "
          f"(sample {smb:.1f} MB, {len(sample)} docs)")
    print(f"jieba  lcut / tokenize     : {smb / timings['j_cut']:7.2f} / {smb / timings['j_tok']:.2f} MB/s")
    print(f"rjieba / jieba             : {timings['j_cut'] / timings['r_cut']:7.1f} x (cut)  "
          f"{timings['j_tok'] / timings['r_tok']:.1f} x (tokenize)")
    return full_s / len(docs)


def _build(folder: Path, slots: dict, n: int) -> dict:
    index = make_index(folder)
    with Clock() as c:
        count = index.rebuild(slots)
    index.close()
    if count != n:
        raise RuntimeError(f"rebuild indexed {count} documents, not {n}")
    return {"wall": c.wall, "cpu": c.cpu}


def bench_rebuild(root: Path, docs: list[IndexDocument], analyser_per_doc: float) -> dict:
    n = len(docs)
    settle()
    r = in_child(_build, root / ACCESS_CLASS, by_slot(docs), n)
    analyser = analyser_per_doc * n
    print(f"rebuild                    : {n / r['wall']:7.1f} docs/s  ({r['wall']:.1f} s wall, {r['cpu']:.1f} CPU s, "
          f"of which the analyser about {analyser:.1f} CPU s; in a forked process whose peak RSS was "
          f"{r['peak_rss']:.0f} MB, {r['peak_rss'] - r['rss_at_fork']:+.0f} MB over its RSS at the fork)")
    print(f"  without the analyser     : {n / max(1e-9, r['cpu'] - analyser):7.1f} docs per engine CPU second "
          f"({r['cpu'] - analyser:.1f} CPU s: SQLCipher, FTS5, the docs table, 'optimize')")
    return {"docs_s": n / r["wall"], **r}


def bench_filing(root: Path, maker: CorpusMaker, docs: list[IndexDocument], n: int, batch: int) -> dict:
    """``n`` documents one commit each, each through a fresh ClassIndex (opened,
    keyed, closed); then ``n`` more in commits of ``batch`` on one open index."""
    extra = [maker.document(i) for i in range(2 * n)]
    contents: dict[str, dict[str, int]] = {}
    for d in docs:
        contents.setdefault(d.slot, {})[d.doc_id] = d.version

    def update(doc: IndexDocument) -> tuple:
        before = slot_digest(contents.setdefault(doc.slot, {}))
        contents[doc.slot][doc.doc_id] = doc.version
        return doc, doc.doc_id, doc.slot, before, slot_digest(contents[doc.slot])

    folder = root / ACCESS_CLASS
    settle()
    with Clock() as single:
        for doc in extra[:n]:
            index = make_index(folder)
            index.index_versions([update(doc)])
            index.close()
    settle()
    index = make_index(folder)
    with Clock() as batched:
        rest = extra[n:]
        for i in range(0, len(rest), batch):
            index.index_versions([update(d) for d in rest[i:i + batch]])
    index.close()
    print(f"filing, one per commit     : {n / single.wall:7.1f} docs/s  ({single.wall * 1e3 / n:.1f} ms/doc, "
          f"{single.cpu * 1e3 / n:.1f} CPU ms; {n} commits into the {len(docs)}-document index, analyser included)")
    print(f"filing, {batch:>3} per commit     : {n / batched.wall:7.1f} docs/s  ({batched.wall * 1e3 / n:.1f} ms/doc, "
          f"{batched.cpu * 1e3 / n:.1f} CPU ms)")
    return {"single": n / single.wall, "batched": n / batched.wall}


def queries(docs: list[IndexDocument]) -> list[tuple[str, dict]]:
    contract = next((d.text.split("合同编号：", 1)[1][:11] for d in docs
                     if d.type == "contract" and "合同编号：" in d.text), "HT-2026-001")
    return [
        ("合同", {}), ("应收账款 逾期", {}), ('"广告发布合同"', {}), ("款", {}), ("星辰", {}),
        ("amendment", {}), ("invoice overdue", {}), (contract, {}), ("违约 AND 赔偿", {}), ("投诉 OR 退款", {}),
        ("合同 NOT 补充协议", {}), ("client:C007 合同", {}), ("type:contract 付款", {}), ("付款", {"since": "2026-01-01"}),
        ("会议纪要", {"client": "C001"}), ("户外大屏 投放", {}), ("保密条款", {}), ('"户外广告"', {}), ("監測數據", {}),
        ("campaign budget", {}), ("知识产权 -违约", {}), ("(投诉 OR 建议) AND 整改", {}), ("title:补充协议", {}),
        ("北京 传媒", {}), ("KPI", {}), ("满意度", {}), ("壹佰", {}), ("投放", {"doc_type": "complaint"}),
        ("应收账款逾期", {}), ("Dear Ms. Wang", {}), ("上海东方广告有限公司", {}), ("兔", {}),
    ]


def percentile(values: list[int], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def bench_search(root: Path, docs: list[IndexDocument], rounds: int) -> dict[str, float]:
    qs = [(text, compile_query(text), kw) for text, kw in queries(docs)]
    t = time.perf_counter_ns()
    for text, _, _ in qs:
        compile_query(text)
    compile_ns = (time.perf_counter_ns() - t) / len(qs)
    index = make_index(root / ACCESS_CLASS)
    t = time.perf_counter_ns()
    search_classes([index], qs[0][1], limit=10, **qs[0][2])  # opens the database
    first = time.perf_counter_ns() - t
    totals = [search_classes([index], c, limit=10, **kw)[0] for _, c, kw in qs]  # warm-up
    lat: list[int] = []
    per_query: list[list[int]] = [[] for _ in qs]
    for _ in range(rounds):
        for qi, (_, compiled, kw) in enumerate(qs):
            t = time.perf_counter_ns()
            search_classes([index], compiled, limit=10, **kw)
            dt = time.perf_counter_ns() - t
            lat.append(dt)
            per_query[qi].append(dt)
    open_rss = rss_mb()
    index.close()
    out = {"p50": ms(percentile(lat, 50)), "p95": ms(percentile(lat, 95))}
    print(f"queries                    : {len(qs)} x {rounds} rounds after warm-up (compile {ms(compile_ns):.2f} ms"
          f" each, not in the figures); totals per query {min(totals)}..{max(totals)}"
          f" ({sum(not getattr(t, 'exact', True) for t in totals)} capped)")
    print(f"search p50/p95/max         : {out['p50']:6.2f} / {out['p95']:6.2f} / {ms(max(lat)):6.2f} ms  "
          f"(first search, opening the index: {ms(first):.0f} ms; RSS with it open {open_rss:.0f} MB)")
    slow = sorted(range(len(qs)), key=lambda i: -statistics.median(per_query[i]))[:3]
    print("slowest (median)           : " + "; ".join(
        f"{qs[i][0]!r}{' ' + str(qs[i][2]) if qs[i][2] else ''} {ms(statistics.median(per_query[i])):.1f} ms"
        for i in slow))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--large", action="store_true", help="100,000 documents")
    parser.add_argument("--workdir", type=Path, default=None, help="where the index goes (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--filing-docs", type=int, default=FILING_SAMPLE)
    parser.add_argument("--batch", type=int, default=50, help="documents per commit in the batched filing")
    parser.add_argument("--rounds", type=int, default=SEARCH_ROUNDS)
    args = parser.parse_args()
    n = 100_000 if args.large else args.docs
    start = time.perf_counter()

    t = time.perf_counter()
    maker = CorpusMaker(args.seed)
    docs = maker.corpus(n)
    gen_s = time.perf_counter() - t
    chars = sum(len(d.text) for d in docs)
    mb = sum(len(d.text.encode("utf-8")) for d in docs) / 1e6
    kinds = {k: sum(d.type == k for d in docs) for k in ("contract", "minutes", "complaint", "email")}
    print(f"corpus                     : {n} docs, {chars / n:.0f} chars/doc, {mb:.1f} MB UTF-8, "
          f"{len({d.slot for d in docs})} slots, {len({d.client for d in docs})} clients, {kinds}")
    print(f"corpus generation          : {gen_s:7.1f} s  (peak RSS so far {peak_rss_mb():.0f} MB)")

    analyser_per_doc = bench_tokeniser(docs, sample_docs=min(n, 300))

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="bench-search-", dir=args.workdir or os.environ.get("BENCH_TMP"))
    try:
        root = Path(tmp)
        rebuild = bench_rebuild(root, docs, analyser_per_doc)
        size = index_size(make_index(root / ACCESS_CLASS))
        print(f"index size                 : {size / 1e6:7.1f} MB  (one database; corpus text {mb:.1f} MB, "
              f"{size / n / 1e3:.1f} kB per document, the text kept for snippets included)")
        settle()
        search = bench_search(root, docs, args.rounds)
        bench_filing(root, maker, docs, min(args.filing_docs, max(1, n // 10)), args.batch)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"peak RSS                   : {peak_rss_mb():7.0f} MB  (this process: corpus, analyser, searches, "
          f"filing; the rebuild's is above)")
    print(f"total run time             : {time.perf_counter() - start:7.0f} s")
    at = "" if n == 100_000 else f" (the target is for 100k, this is {n})"
    checks = [("rebuild >= 150 docs/s", rebuild["docs_s"] >= 150), (f"search p95 <= 30 ms{at}", search["p95"] <= 30)]
    print("targets: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks))


if __name__ == "__main__":
    main()
