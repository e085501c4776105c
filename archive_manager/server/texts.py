"""The pages' words, Simplified Chinese by default and English on request
(``?lang=en``, kept in a cookie)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGUAGES = ("zh", "en")

TEXTS = {
    "zh": {
        "app": "客户档案管理", "signin": "登录", "signout": "退出登录", "user": "用户名", "passphrase": "口令",
        "search": "检索", "clients": "客户", "account": "我的账户", "query": "检索词", "client": "客户",
        "type": "类型", "since": "起始日期", "until": "截止日期", "any": "全部", "results": "检索结果", "at_least": "至少",
        "results_count": "条结果", "no_results": "没有找到文档。", "title": "标题", "date": "日期",
        "class": "类别", "version": "版本", "versions": "版本", "documents": "文档", "name": "名称",
        "created": "建档时间", "profile": "客户资料", "no_text": "无文本", "ocr_read": "OCR识别", "ocr_waiting": "等待OCR识别",
        "ocr_snippet": "摘录来自扫描件的OCR识别，置信度", "departments": "部门",
        "classes": "可读类别", "actions": "权限", "fingerprint": "密钥指纹", "signed_in_as": "当前用户",
        "error": "出错了", "back": "返回", "prev": "上一页", "next": "下一页", "number": "合同编号",
        "file_name": "文件名", "size": "大小", "filed_at": "归档时间", "filed_by": "归档人", "text": "文本",
        "language": "English", "idle_note": "闲置 15 分钟后自动退出。", "none": "无", "open": "打开", "download": "下载", "upload": "归档上传", "change_passphrase": "修改口令", "current_passphrase": "当前口令", "new_passphrase": "新口令", "new_again": "再次输入新口令", "files": "文件", "filed": "已归档", "duplicate": "重复（已有）", "new_version": "新版本", "result": "结果", "why": "原因", "upload_note": "可一次选择或拖入多个文件；标题只用于单个文件。",
    },
    "en": {
        "app": "Client archive", "signin": "Sign in", "signout": "Sign out", "user": "User", "passphrase": "Passphrase",
        "search": "Search", "clients": "Clients", "account": "Account", "query": "Search words", "client": "Client",
        "type": "Type", "since": "Since", "until": "Until", "any": "any", "results": "Results", "at_least": "at least",
        "results_count": "results", "no_results": "No documents found.", "title": "Title", "date": "Date",
        "class": "Class", "version": "Version", "versions": "Versions", "documents": "Documents", "name": "Name",
        "created": "Created", "profile": "Profile", "no_text": "no text", "ocr_read": "OCR", "ocr_waiting": "waiting for OCR",
        "ocr_snippet": "snippet from OCR of a scan, confidence", "departments": "Departments",
        "classes": "Readable classes", "actions": "Rights", "fingerprint": "Key fingerprint",
        "signed_in_as": "Signed in as", "error": "Something went wrong", "back": "Back", "prev": "Previous",
        "next": "Next", "number": "Contract number", "file_name": "File name", "size": "Size", "filed_at": "Filed",
        "filed_by": "Filed by", "text": "Text", "language": "中文", "idle_note": "You are signed out after 15 idle minutes.",
        "none": "none", "open": "Open", "download": "Download", "upload": "File documents", "change_passphrase": "Change passphrase", "current_passphrase": "Current passphrase", "new_passphrase": "New passphrase", "new_again": "New passphrase again", "files": "Files", "filed": "filed", "duplicate": "duplicate (already filed)", "new_version": "new version", "result": "Result", "why": "Why", "upload_note": "Choose or drop one or many files; a title applies to a single file only.",
    },
}


def language_of(query_lang: str | None, cookie_lang: str | None) -> str:
    for lang in (query_lang, cookie_lang):
        if lang in LANGUAGES:
            return lang
    return "zh"


# --- dates, times and sizes as each language writes them ---------------------------

def format_day(value: str | None, lang: str) -> str:
    """``2026-12-07`` as 2026年12月7日 (zh) or as it is (en)."""
    if not value or len(value) < 10 or lang != "zh":
        return value or ""
    try:
        y, m, d = int(value[:4]), int(value[5:7]), int(value[8:10])
    except ValueError:
        return value
    return f"{y}年{m}月{d}日"


def format_time(value: str | None, lang: str, zone) -> str:
    """An event's UTC timestamp (``2026-12-07T05:07:35Z``) in the server's
    time zone: 2026年12月7日 13:07 (zh), 2026-12-07 13:07 (en)."""
    if not value:
        return ""
    try:
        when = datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).astimezone(zone)
    except ValueError:
        return value
    return f"{format_day(when.strftime('%Y-%m-%d'), lang)} {when:%H:%M}"


def format_size(n: int | None, lang: str) -> str:
    if n is None:
        return ""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} 字节" if lang == "zh" else f"{n} bytes"


def time_zone(name: str):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc
