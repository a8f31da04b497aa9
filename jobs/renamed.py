"""Jobs that were renamed: old dotted path -> new one.

A job's dotted path is a public API: jobs already queued, scheduled, or waiting in the
failed registry to be requeued from the dashboard name the function by its old path.
Each old path stays importable as an alias in its module (tests/jobs/test_renamed.py
checks every entry here, and runs one through a real worker). Remove an alias only when
no job under the old path can exist any more (all registries' TTLs have passed).
"""

RENAMED = {
    # 2026-11: named like its batch job, outbox_emails_deliver.
    "jobs.outbox.outbox_deliver_due": "jobs.outbox.outbox_emails_deliver_due",
}
