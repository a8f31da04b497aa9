"""What every job shares, and no rule: argument checks, sweep leases, claims and batches,
keyset pages under a time budget.

The jobs in ``jobs/`` call these with plain values (ids, a queue name, the batch job as a
function reference); which records are due, and what happens to them, stays in the
selector and the service each job names itself.
"""
