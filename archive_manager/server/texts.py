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
        # client admission (issue 18)
        "applications": "准入审批", "paperwork": "文书制作", "ledger": "应收账款", "audit_desk": "审计",
        "admin_desk": "系统管理", "new_application": "新建准入申请", "application": "客户准入申请",
        "view_mine": "待我处理", "view_open": "全部进行中", "view_all": "全部（含已结束）", "app_id": "申请编号",
        "state": "状态", "step": "环节", "waiting_for": "等待部门", "applicant": "申请人", "age": "已等待",
        "days": "天", "updated": "最近更新", "started": "提交时间", "no_applications": "没有待处理的申请。",
        "state_pending": "审查中", "state_returned": "已退回补充", "state_rejected": "未通过",
        "state_admitted": "已准入",
        "status": "客户状态", "status_applying": "申请中", "status_admitted": "已准入",
        "status_suspended": "暂停合作", "status_terminated": "终止合作", "status_rejected": "未准入",
        "decision_approve": "同意", "decision_return": "退回补充材料", "decision_reject": "不同意",
        "decided_approve": "同意", "decided_return": "退回补充材料", "decided_reject": "不同意",
        "colon": "：", "semicolon": "；",
        "kind_apply": "提交申请", "kind_resubmit": "补充后重新提交", "client_name": "客户名称",
        "basic_info": "客户基本信息", "needs_info": "业务需求与预算", "attachments": "附件",
        "attach_type": "附件类型", "attach_files": "文件（可多选）",
        "attach_note": "每行一种类型，可选多个文件。只列出您所在部门可以归档的类型。",
        "submit_application": "提交申请", "required_note": "带 * 的为必填项。", "fields": "申请内容",
        "steps": "审批流程", "history": "审批记录", "opinion": "意见", "decision": "结论", "department": "部门",
        "time": "时间", "not_held": "保存在“{cls}”类别中，您所在部门不持有该类别的密钥。",
        "your_review": "审查意见", "review_as": "以{dept}的身份审查“{step}”",
        "credit_terms": "信用条件（同意时必填）",
        "credit_rating": "信用等级", "credit_limit": "信用额度（元）", "choose": "请选择",
        "resubmit": "补充后重新提交", "note": "补充说明",
        "resubmit_note": "修改需要补充的内容或添加附件后重新提交，申请将回到退回它的环节。",
        "waits_for": "等待{dept}处理：{step}", "no_action": "当前环节不由您所在的部门处理，您可以查看但不能操作。",
        "returned_to": "已退回{dept}补充材料，补充后回到“{step}”。",
        "done_started": "申请已提交，等待第一个环节审查。", "done_approve": "已同意，申请转入下一环节。",
        "done_return": "已退回申请人补充材料。", "done_reject": "已否决，申请已关闭并保留。",
        "done_resubmit": "已重新提交，申请回到退回它的环节。",
        "done_admitted": "全部环节已同意：客户已准入，准入申请表已归档。",
        "apply_only": "只有{depts}的成员可以提交客户准入申请。", "index_warning": "检索索引稍后更新：",
        "standing": "客户状态与信用", "credit_assessed": "最近信用评估", "status_reason": "原因",
        "view_application": "查看准入申请", "not_rated": "尚未评定", "open_receivables": "未收应收账款（元）",
        "over_limit": "已超出信用额度", "since_time": "变更时间",
        "application_doc": "申请书", "opinion_doc": "意见书", "signed_by": "签署人", "sets": "核定",
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
        # client admission (issue 18)
        "applications": "Admissions", "paperwork": "Paperwork", "ledger": "Receivables", "audit_desk": "Audit",
        "admin_desk": "Administration", "new_application": "New application", "application": "Client application",
        "view_mine": "Waiting for me", "view_open": "All open", "view_all": "All (with closed)",
        "app_id": "Application", "state": "State", "step": "Step", "waiting_for": "Waiting for",
        "applicant": "Applicant", "age": "Waiting", "days": "days", "updated": "Last change",
        "started": "Submitted", "no_applications": "No applications waiting.", "state_pending": "in review",
        "state_returned": "returned", "state_rejected": "rejected", "state_admitted": "admitted",
        "status": "Status", "status_applying": "applying", "status_admitted": "admitted",
        "status_suspended": "suspended", "status_terminated": "terminated", "status_rejected": "rejected",
        "decision_approve": "Approve", "decision_return": "Return for more information", "decision_reject": "Reject",
        "decided_approve": "approved", "decided_return": "returned for more information", "decided_reject": "rejected",
        "colon": ": ", "semicolon": "; ",
        "kind_apply": "Submitted", "kind_resubmit": "Submitted again", "client_name": "Client name",
        "basic_info": "Basic information", "needs_info": "Needs and budget", "attachments": "Attachments",
        "attach_type": "Attachment type", "attach_files": "Files (one or more)",
        "attach_note": "One type per row, one or more files. Only the types your department files are listed.",
        "submit_application": "Submit the application", "required_note": "Fields marked * are required.",
        "fields": "Application", "steps": "Review steps", "history": "History", "opinion": "Opinion",
        "decision": "Decision", "department": "Department", "time": "Time",
        "not_held": "Kept in class \u201c{cls}\u201d, which your department does not hold.",
        "your_review": "Your review", "review_as": "Reviewing \u201c{step}\u201d as {dept}",
        "credit_terms": "Credit terms (required to approve)", "credit_rating": "Credit rating",
        "credit_limit": "Credit limit (yuan)", "choose": "choose", "resubmit": "Submit again",
        "note": "Note", "resubmit_note": "Change what is missing or add attachments, then submit again: the "
                                         "application goes back to the step that returned it.",
        "waits_for": "Waiting for {dept}: {step}",
        "no_action": "This step is not your department's: you may read the application but not act on it.",
        "returned_to": "Returned to {dept} for more information; it comes back to \u201c{step}\u201d.",
        "done_started": "The application is submitted and waits for its first step.",
        "done_approve": "Approved: the application moves on to the next step.",
        "done_return": "Returned to the applicant for more information.",
        "done_reject": "Rejected: the application is closed and kept.",
        "done_resubmit": "Submitted again: the application is back at the step that returned it.",
        "done_admitted": "Every step approved: the client is admitted and the admission form is filed.",
        "apply_only": "Only members of {depts} start client applications.",
        "index_warning": "The search index catches up later:", "standing": "Status and credit",
        "credit_assessed": "Last credit assessment", "status_reason": "Reason",
        "view_application": "Open the application", "not_rated": "not rated yet", "open_receivables": "Open receivables (yuan)",
        "over_limit": "over the credit limit", "since_time": "Since",
        "application_doc": "Application document", "opinion_doc": "the opinion as filed", "signed_by": "Signed by", "sets": "Sets",
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


def _merge_desks() -> None:
    """Each desk's words (:mod:`archive_manager.server.words`) into TEXTS; a key twice is a bug."""
    from archive_manager.server.words import admin, audit, ledger, paperwork, upkeep
    for desk in (paperwork, ledger, audit, admin, upkeep):
        for lang in LANGUAGES:
            twice = TEXTS[lang].keys() & desk.TEXTS[lang].keys()
            if twice:
                raise RuntimeError(f"{desk.__name__} defines {sorted(twice)} again")
            TEXTS[lang].update(desk.TEXTS[lang])


_merge_desks()
