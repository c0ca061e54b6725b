"""The pure statutory casework engine for EHC needs assessments and plans.

It imports no Kafka, Faust, HTTP, asyncio or logging set-up, and never reads the clock: the
evaluation date is always passed in. Typical use::

    from ehcp.casework import Policy, evaluate
    policy = Policy()
    assessment = evaluate(events, as_of=date(2025, 3, 1), policy=policy,
                          calendar=policy.calendar())

Modules: ``events`` (the facts), ``jsonl`` (their JSON-lines form), ``calendar`` (working days,
receipt rule, closures), ``policy`` (local settings), ``rules/`` (the statutory rules, one module
per area), ``history`` (events read into facts), ``exception_log``, ``timeline`` (statutory
dates), ``advice_tracker`` (reg 6/8 advice), ``stage``, ``alerts``, ``engine`` (``evaluate``),
``model`` (result types) and ``explain`` (text and JSON).
"""

from ehcp.casework.calendar import Calendar, ClosurePeriod, ReceiptRule
from ehcp.casework.engine import evaluate, next_alert_due_on
from ehcp.casework.model import (
    AdviceItem,
    AdviceStatus,
    Alert,
    AlertKind,
    CaseAssessment,
    DateStatus,
    ExceptionInForce,
    PlanFact,
    Severity,
    Stage,
    StatutoryDate,
    Timeliness,
)
from ehcp.casework.policy import Policy

__all__ = [
    "AdviceItem",
    "AdviceStatus",
    "Alert",
    "AlertKind",
    "Calendar",
    "CaseAssessment",
    "ClosurePeriod",
    "DateStatus",
    "ExceptionInForce",
    "PlanFact",
    "Policy",
    "ReceiptRule",
    "Severity",
    "Stage",
    "StatutoryDate",
    "Timeliness",
    "evaluate",
    "next_alert_due_on",
]
