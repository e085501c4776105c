"""The words of the admin desk's upkeep pages (the inbox's quarantine, the watcher, health)."""

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "upkeep_inbox": "收件箱隔离区", "upkeep_health": "系统健康",
        "upkeep_admin_only": "只有系统管理员（具有管理权限的部门成员）可以查看和处理此页面。",
        "upkeep_inbox_intro": "收件箱无法归档的文件会被移入隔离区（.failed），旁边附有失败原因。"
                              "处理原因后可以重试，或者确认后删除。每个操作都记入审计日志。",
        "upkeep_retry_note": "“重试”把文件（连同说明文件 .toml）移回收件箱原来的位置，由监视程序在下一次扫描时归档；"
                             "如果仍然失败，它会带着新的原因回到这里，不会丢失，也不会只归档一半。",
        "upkeep_file": "文件", "upkeep_where": "客户 / 类型", "upkeep_when": "隔离时间", "upkeep_reason": "原因",
        "upkeep_fix": "处理办法", "upkeep_actions": "操作", "upkeep_retry": "重试", "upkeep_delete": "删除…",
        "upkeep_empty": "隔离区是空的：收件箱里的文件都已归档。", "upkeep_no_layout": "不在 客户/类型/ 目录中",
        "upkeep_with_sidecar": "附说明文件", "upkeep_kind_link": "符号链接", "upkeep_kind_other": "非普通文件",
        "upkeep_done_retry": "文件已移回收件箱，监视程序会在下一次扫描时归档它；如果再次失败，它会带着新的原因回到隔离区。",
        "upkeep_done_delete": "文件及其原因说明已永久删除。",
        "upkeep_confirm_title": "确认删除隔离文件", "upkeep_confirm_text": "此文件将被永久删除，不能恢复：",
        "upkeep_confirm_button": "永久删除", "upkeep_cancel": "取消",
        "upkeep_watcher": "收件箱监视程序", "upkeep_state_running": "运行中", "upkeep_state_stalled": "无响应",
        "upkeep_state_stopped": "已停止", "upkeep_state_gone": "已中断", "upkeep_state_unknown": "状态不明",
        "upkeep_state_never": "从未运行", "upkeep_state_unreadable": "状态文件无法读取",
        "upkeep_state_note_running": "进程存在，且最近有心跳。",
        "upkeep_state_note_stalled": "进程仍在，但已超过两分钟没有心跳：可能正在处理很大的文件或OCR，也可能卡住了。",
        "upkeep_state_note_stopped": "监视程序已正常停止。", "upkeep_state_note_gone": "进程已不存在，但没有记录停止：可能被强制结束或崩溃。",
        "upkeep_state_note_unknown": "状态文件来自另一台主机，且心跳已过期。",
        "upkeep_state_note_never": "此归档目录中还没有运行过 archive watch。",
        "upkeep_state_note_unreadable": "状态文件已损坏或无法读取。",
        "upkeep_pid": "进程号", "upkeep_host": "主机", "upkeep_as_user": "归档用户", "upkeep_started": "启动时间",
        "upkeep_last_scan": "上次全面扫描", "upkeep_heartbeat": "最近心跳", "upkeep_stopped_at": "停止时间",
        "upkeep_queue": "队列", "upkeep_settling": "等待写完", "upkeep_filing": "正在归档", "upkeep_ocr": "等待OCR",
        "upkeep_unknown": "未知", "upkeep_quarantined": "隔离", "upkeep_since_start": "本次运行",
        "upkeep_status_note": "以上信息来自监视程序写入的状态文件（watcher.json），仅供参考：任何能写入归档目录的人都能修改它，"
                              "它不用于任何权限判断。",
        "upkeep_checks_intro": "校验会读取全部数据，归档较大时可能需要几分钟，因此只在点击按钮时运行。"
                               "结果保存在服务器进程的内存中（服务器重启后需重新运行），显示运行时间和运行人。",
        "upkeep_run": "运行", "upkeep_run_all": "全部运行", "upkeep_never_run": "服务器启动以来尚未运行。",
        "upkeep_ran": "运行于", "upkeep_ran_by": "运行人", "upkeep_took": "用时", "upkeep_seconds": "秒",
        "upkeep_ok": "正常", "upkeep_problems": "发现问题", "upkeep_failed": "无法完成",
        "upkeep_running": "正在运行…",
        "upkeep_vault": "保管库校验（verify）",
        "upkeep_vault_intro": "解密并校验每个元数据文件、每个文档版本及其文本，并与审计日志记录的最新状态比对。",
        "upkeep_checked": "已校验", "upkeep_clients": "客户", "upkeep_slots": "档案分区", "upkeep_docs": "文档",
        "upkeep_versions": "版本", "upkeep_bytes": "数据量", "upkeep_not_checked": "未持有密钥、未校验的类别",
        "upkeep_problem_where": "位置", "upkeep_problem": "问题", "upkeep_notes": "说明",
        "upkeep_audit": "审计日志校验（audit verify）",
        "upkeep_audit_intro": "重新计算审计日志每个事件的哈希链和签名，并核对保存的检查点。",
        "upkeep_events": "事件数", "upkeep_period": "时间范围", "upkeep_first_failure": "第一个出错的事件",
        "upkeep_checkpoints": "检查点", "upkeep_stored_checkpoints": "已保存的检查点", "upkeep_fingerprint": "根密钥指纹",
        "upkeep_index": "检索索引（各类别）",
        "upkeep_index_intro": "每个类别的索引与保管库比对（与 reindex --if-needed 的判断相同，并校验索引页）。",
        "upkeep_index_class": "类别", "upkeep_index_docs": "文档数", "upkeep_index_indexed": "已索引",
        "upkeep_index_state": "状态", "upkeep_index_current": "最新", "upkeep_index_reindex": "需要重建索引",
        "upkeep_index_not_held": "未持有密钥", "upkeep_index_dossiers": "分区数",
        "upkeep_disk": "磁盘占用", "upkeep_disk_intro": "归档目录各部分的大小，以及所在磁盘的剩余空间。",
        "upkeep_part": "部分", "upkeep_path": "路径", "upkeep_size": "大小", "upkeep_files": "文件数",
        "upkeep_part_vault": "保管库", "upkeep_part_index": "检索索引", "upkeep_part_inbox": "收件箱",
        "upkeep_part_quarantine": "隔离区", "upkeep_part_log": "审计日志",
        "upkeep_free": "磁盘剩余空间", "upkeep_of": "共", "upkeep_disk_chart": "各部分大小",
        "upkeep_done_check": "校验已完成，结果如下。", "upkeep_low_disk": "磁盘剩余空间不足 10%。",
    },
    "en": {
        "upkeep_inbox": "Inbox quarantine", "upkeep_health": "Health",
        "upkeep_admin_only": "Only administrators (members of a department with the admin right) may see and act on "
                             "this page.",
        "upkeep_inbox_intro": "Files the inbox cannot file are moved to its quarantine (.failed) with the reason "
                              "beside them. Fix the reason and retry, or delete after a confirmation. Each action is "
                              "recorded in the audit trail.",
        "upkeep_retry_note": "Retry moves the file (with its .toml sidecar) back to its place in the inbox; the "
                             "watcher files it at its next scan. If it fails again it comes back here with a new "
                             "reason: it is never lost or half-filed.",
        "upkeep_file": "File", "upkeep_where": "Client / type", "upkeep_when": "Quarantined", "upkeep_reason": "Reason",
        "upkeep_fix": "Fix", "upkeep_actions": "Actions", "upkeep_retry": "Retry", "upkeep_delete": "Delete…",
        "upkeep_empty": "The quarantine is empty: everything in the inbox was filed.",
        "upkeep_no_layout": "not in a client/type/ folder", "upkeep_with_sidecar": "with sidecar",
        "upkeep_kind_link": "symbolic link", "upkeep_kind_other": "not a regular file",
        "upkeep_done_retry": "The file is back in the inbox; the watcher files it at its next scan. If it fails "
                             "again it comes back to the quarantine with a new reason.",
        "upkeep_done_delete": "The file and its reason were deleted for good.",
        "upkeep_confirm_title": "Delete a quarantined file", "upkeep_confirm_text": "This file will be deleted for "
                                                                                  "good; it cannot be undone:",
        "upkeep_confirm_button": "Delete for good", "upkeep_cancel": "Cancel",
        "upkeep_watcher": "Inbox watcher", "upkeep_state_running": "running", "upkeep_state_stalled": "not responding",
        "upkeep_state_stopped": "stopped", "upkeep_state_gone": "ended", "upkeep_state_unknown": "unknown",
        "upkeep_state_never": "never run", "upkeep_state_unreadable": "status unreadable",
        "upkeep_state_note_running": "Its process is alive and its heartbeat is recent.",
        "upkeep_state_note_stalled": "Its process is alive but it has not beaten for over two minutes: a very large "
                                     "file or OCR, or it is stuck.",
        "upkeep_state_note_stopped": "The watcher stopped normally.",
        "upkeep_state_note_gone": "Its process is gone without a recorded stop: killed or crashed.",
        "upkeep_state_note_unknown": "The status file comes from another host and its heartbeat is old.",
        "upkeep_state_note_never": "archive watch has not run in this archive's home.",
        "upkeep_state_note_unreadable": "The status file is damaged or cannot be read.",
        "upkeep_pid": "PID", "upkeep_host": "Host", "upkeep_as_user": "Files as", "upkeep_started": "Started",
        "upkeep_last_scan": "Last full scan", "upkeep_heartbeat": "Last heartbeat", "upkeep_stopped_at": "Stopped",
        "upkeep_queue": "Queue", "upkeep_settling": "settling", "upkeep_filing": "being filed",
        "upkeep_ocr": "waiting for OCR", "upkeep_unknown": "unknown", "upkeep_quarantined": "quarantined", "upkeep_since_start": "This run",
        "upkeep_status_note": "This comes from the status file the watcher writes (watcher.json) and is "
                              "informational: anyone who can write the archive's home can change it, and it is "
                              "never used to decide access.",
        "upkeep_checks_intro": "The checks read everything and may take minutes on a large archive, so they run only "
                               "when you click. Results are kept in the server process's memory (run them again "
                               "after a restart), with when and by whom they ran.",
        "upkeep_run": "Run", "upkeep_run_all": "Run all", "upkeep_never_run": "Not run since the server started.",
        "upkeep_ran": "Ran", "upkeep_ran_by": "by", "upkeep_took": "took", "upkeep_seconds": "s",
        "upkeep_ok": "OK", "upkeep_problems": "Problems found", "upkeep_failed": "Could not finish",
        "upkeep_running": "Running…",
        "upkeep_vault": "Vault check (verify)",
        "upkeep_vault_intro": "Decrypts and authenticates every metadata file, document version and its text, and "
                              "compares the vault with the newest state the audit log recorded.",
        "upkeep_checked": "Checked", "upkeep_clients": "clients", "upkeep_slots": "dossier slots",
        "upkeep_docs": "documents", "upkeep_versions": "versions", "upkeep_bytes": "data",
        "upkeep_not_checked": "Classes not checked (no key held)", "upkeep_problem_where": "Where",
        "upkeep_problem": "Problem", "upkeep_notes": "Notes",
        "upkeep_audit": "Audit trail check (audit verify)",
        "upkeep_audit_intro": "Recomputes every event's hash chain and signature and checks the stored checkpoints.",
        "upkeep_events": "Events", "upkeep_period": "Period", "upkeep_first_failure": "First failing event",
        "upkeep_checkpoints": "Checkpoints", "upkeep_stored_checkpoints": "Stored checkpoints",
        "upkeep_fingerprint": "Root fingerprint",
        "upkeep_index": "Search indexes per class",
        "upkeep_index_intro": "Each class index against the vault (the rule of reindex --if-needed, pages "
                              "authenticated).",
        "upkeep_index_class": "Class", "upkeep_index_docs": "In the vault", "upkeep_index_indexed": "Indexed",
        "upkeep_index_state": "State", "upkeep_index_current": "current", "upkeep_index_reindex": "reindex needed",
        "upkeep_index_not_held": "no key held", "upkeep_index_dossiers": "Slots",
        "upkeep_disk": "Disk use", "upkeep_disk_intro": "The size of each part of the archive's home and the free "
                                                       "space of its disk.",
        "upkeep_part": "Part", "upkeep_path": "Path", "upkeep_size": "Size", "upkeep_files": "Files",
        "upkeep_part_vault": "Vault", "upkeep_part_index": "Search indexes", "upkeep_part_inbox": "Inbox",
        "upkeep_part_quarantine": "Quarantine", "upkeep_part_log": "Audit log",
        "upkeep_free": "Free on the disk", "upkeep_of": "of", "upkeep_disk_chart": "Size of each part",
        "upkeep_done_check": "The check ran; its result is below.", "upkeep_low_disk": "Less than 10% of the disk is "
                                                                                     "free.",
    },
}
