"""Where a client stands, replayed from its checked decisions: status, the
application and its opinions, the credit terms, the approved amendments.
Each entry must be allowed where it stands; the first that is not raises
:class:`DecisionError` (an entry the archive itself would have refused was
written by someone else).

Status: ``applying`` → ``admitted`` (the last step approves) or
``rejected``; ``admitted`` ⇄ ``suspended``; either → ``terminated`` (final).
A client with no decisions was added before issue 18 and is taken as
admitted (``recorded`` False); its first decision may then be a change of
status, a re-assessment or an amendment's approval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from archive_manager.decisions.chain import DecisionError

if TYPE_CHECKING:
    from archive_manager.policy.admission import AdmissionPolicy

STATUSES = ("applying", "admitted", "suspended", "terminated", "rejected")
DECISIONS = ("approve", "return", "reject")
ADMIN = "archive"


@dataclass
class Opinion:
    """One review at one step: what was decided, by whom, on which content;
    ``opinion`` names the filed opinion document (doc, version, sha256, class)."""
    n: int
    step: str
    department: str
    user: str
    time: str
    decision: str
    content: str
    opinion: dict
    sets: dict


@dataclass
class Application:
    id: str
    applicant: str
    department: str
    started: str
    steps: list[dict]  # the chain as it was when the application started
    content: str  # SHA-256 of the application as last submitted
    doc: str  # the application document
    state: str = "pending"  # pending, returned, rejected, admitted
    at: int | None = 0  # index of the step it waits for (None once closed)
    updated: str = ""
    history: list[dict] = field(default_factory=list)  # submissions and opinions, in order
    opinions: list[Opinion] = field(default_factory=list)

    @property
    def waiting_step(self) -> dict | None:
        return self.steps[self.at] if self.state in ("pending", "returned") and self.at is not None else None


@dataclass
class Credit:
    rating: str | None = None
    limit: str | None = None  # yuan, two decimals
    terms: str | None = None
    assessed: str | None = None  # time of the last assessment
    by: str | None = None


@dataclass
class Standing:
    status: str = "admitted"
    recorded: bool = False  # False: no decisions (a client added before issue 18)
    since: str | None = None
    reason: str | None = None
    application: Application | None = None
    credit: Credit = field(default_factory=Credit)
    amendments: dict[str, dict] = field(default_factory=dict)  # doc id -> the approval entry
    entries: list[dict] = field(default_factory=list)


def _need(cond: bool, entry: dict, why: str) -> None:
    if not cond:
        raise DecisionError(f"decision {entry['n']} ({entry['kind']} by {entry['user']!r}) is not allowed: {why}",
                            entry["n"])


def _text(entry: dict, key: str) -> str:
    value = entry.get(key)
    _need(isinstance(value, str) and bool(value), entry, f"its {key} is missing")
    return value


def _apply(st: Standing, e: dict) -> None:
    _need(e["n"] == 1, e, "an application opens a client's record")
    steps = e.get("steps")
    _need(isinstance(steps, list) and bool(steps) and all(isinstance(s, dict) and isinstance(s.get("id"), str)
                                                        and isinstance(s.get("department"), str) for s in steps),
          e, "it names no review steps")
    st.status, st.recorded, st.since = "applying", True, e["time"]
    st.application = Application(_text(e, "application"), e["user"], e["department"], e["time"], steps,
                                 _text(e, "content"), _text(e, "doc"), updated=e["time"])
    st.application.history.append(e)


def _resubmit(st: Standing, e: dict) -> None:
    app = st.application
    _need(app is not None and app.state == "returned", e, "only a returned application is submitted again")
    _need(e.get("application") == app.id, e, "it names another application")
    _need(e["department"] == app.department, e, "only the applying department submits again")
    app.content, app.state, app.updated = _text(e, "content"), "pending", e["time"]
    app.history.append(e)


def _review(st: Standing, e: dict, policy, policy_types: dict) -> None:
    app = st.application
    _need(app is not None and app.state == "pending", e, "no application waits for a review")
    _need(e.get("application") == app.id, e, "it names another application")
    step = app.steps[app.at]
    _need(e.get("step") == step["id"], e, f"the application waits for step {step['id']!r}")
    _need(e["department"] == step["department"], e, f"step {step['id']!r} is {step['department']!r}'s")
    _need(e.get("content") == app.content, e, "it reviewed other content than the application as submitted")
    _need(e["user"] != app.applicant and all(o.user != e["user"] for o in app.opinions if o.step != step["id"]), e,
          "each step is signed by someone other than the applicant and the other steps' reviewers")
    decision = e.get("decision")
    _need(decision in DECISIONS, e, f"unknown decision {decision!r}")
    opinion = e.get("opinion")
    _need(isinstance(opinion, dict) and isinstance(opinion.get("sha256"), str), e, "it names no opinion document")
    sets = e.get("sets") or {}
    _need(isinstance(sets, dict), e, "malformed credit terms")
    _need(set(sets) <= set(step.get("sets", [])) and (decision == "approve" or not sets), e,
          f"step {step['id']!r} sets only {', '.join(step.get('sets', [])) or 'nothing'}, and only when it approves")
    if policy is not None and step.get("opinion_type") in policy_types:
        _need(opinion.get("class") == policy_types[step["opinion_type"]], e,
              f"its opinion must be kept in class {policy_types[step['opinion_type']]!r}")
    if decision == "approve":
        _need(set(step.get("sets", [])) <= set(sets), e, f"step {step['id']!r} approves only with "
                                                          f"{', '.join(step.get('sets', []))}")
    app.opinions.append(Opinion(e["n"], step["id"], e["department"], e["user"], e["time"], decision, app.content,
                                opinion, dict(sets)))
    app.history.append(e)
    app.updated = e["time"]
    if decision == "approve":
        for key, value in sets.items():
            setattr(st.credit, {"credit_rating": "rating", "credit_limit": "limit",
                                "payment_terms": "terms"}.get(key, "terms"), value)
        if sets:
            st.credit.assessed, st.credit.by = e["time"], e["user"]
        if app.at + 1 < len(app.steps):
            app.at += 1
        else:
            app.state, app.at, st.status, st.since = "admitted", None, "admitted", e["time"]
    elif decision == "return":
        app.state = "returned"
    else:
        app.state, app.at, st.status, st.since = "rejected", None, "rejected", e["time"]


def _register(st: Standing, e: dict) -> None:
    _need(e["n"] == 1, e, "registration opens a client's record")
    _need(e["department"] == ADMIN, e, "only an administrator registers a client")
    st.status, st.recorded, st.since, st.reason = "admitted", True, e["time"], e.get("reason")


def _status(st: Standing, e: dict, policy: AdmissionPolicy | None) -> None:
    allowed = (ADMIN, *(policy.status_departments if policy else ()))
    _need(e["department"] in allowed, e, f"{e['department']!r} does not change a client's status")
    new = e.get("status")
    _need(new in ("admitted", "suspended", "terminated"), e, f"unknown status {new!r}")
    _need(st.status in ("admitted", "suspended") and new != st.status, e,
          f"a client {st.status} does not become {new}")
    st.status, st.since, st.reason = new, e["time"], _text(e, "reason")


def _reassess(st: Standing, e: dict, policy: AdmissionPolicy | None) -> None:
    _need(policy is not None and e["department"] in (policy.reassess_department, ADMIN), e,
          "credit is re-assessed by the credit department")
    _need(st.status in ("admitted", "suspended"), e, f"a client {st.status} is not re-assessed")
    st.credit = Credit(_text(e, "credit_rating"), _text(e, "credit_limit"), e.get("payment_terms") or st.credit.terms,
                       e["time"], e["user"])


def _amendment(st: Standing, e: dict, policy: AdmissionPolicy | None) -> None:
    _need(policy is not None and e["department"] == policy.amendment_approver, e,
          "amendments are approved by the approving department")
    doc = _text(e, "doc")
    _need(doc not in st.amendments, e, f"amendment {doc} was already decided")
    _need(e.get("decision") in ("approve", "reject"), e, "unknown decision")
    _need(isinstance(e.get("draft"), dict), e, "it names no draft")
    st.amendments[doc] = e


def replay(entries: list[dict], policy: AdmissionPolicy | None, types: dict[str, str] | None = None) -> Standing:
    """Where the client stands after ``entries`` (already checked by
    :func:`archive_manager.decisions.chain.check_links`); ``types``: each
    document type's class, which an opinion must be kept in."""
    st = Standing(entries=list(entries))
    for e in entries:
        kind = e["kind"]
        _need(st.status not in ("terminated", "rejected"), e, f"the client is {st.status}")
        if kind == "apply":
            _apply(st, e)
        elif kind == "register":
            _register(st, e)
        elif kind == "resubmit":
            _resubmit(st, e)
        elif kind == "review":
            _review(st, e, policy, types or {})
        elif kind == "status":
            _status(st, e, policy)
        elif kind == "reassess":
            _reassess(st, e, policy)
        else:
            _amendment(st, e, policy)
        st.recorded = True
    return st
