"""How each headline figure grows with the number of applications (one column per size)."""

#: (label, scenario, path into its figures)
HEADLINES = [
    ("seed, s", "seed", ["total_s"]),
    ("reject sweep select, nothing due, ms", "sweeps", ["nothing_due", "reject_due", "median_ms"]),
    ("reject sweep select, 1,000 due, ms", "sweeps", ["due_1000", "reject_due", "median_ms"]),
    ("reject sweep job, 1,000 due, ms", "sweeps", ["due_1000", "reject_sweep_job", "median_ms"]),
    ("provider chaser select, nothing due, ms", "sweeps", ["nothing_due", "chase_providers_due", "median_ms"]),
    ("candidate chaser select, nothing due, ms", "sweeps", ["nothing_due", "chase_candidates_due", "median_ms"]),
    ("support first page p95, ms", "lists", ["pages", "support first page", "p95_ms"]),
    ("support state filter p95, ms", "lists", ["pages", "support state filter", "p95_ms"]),
    ("support search (common) p95, ms", "lists", ["pages", "support search (common)", "p95_ms"]),
    ("support search (rare) p95, ms", "lists", ["pages", "support search (rare)", "p95_ms"]),
    ("support deep page (next x20) p95, ms", "lists", ["pages", "support deep page (next x20)", "p95_ms"]),
    ("support detail page p95, ms", "lists", ["pages", "support detail page", "p95_ms"]),
    ("provider first page p95, ms", "lists", ["pages", "provider first page", "p95_ms"]),
    ("provider state filter p95, ms", "lists", ["pages", "provider state filter", "p95_ms"]),
    ("provider search (common) p95, ms", "lists", ["pages", "provider search (common)", "p95_ms"]),
    ("provider search (rare) p95, ms", "lists", ["pages", "provider search (rare)", "p95_ms"]),
    ("provider deep page (next x20) p95, ms", "lists", ["pages", "provider deep page (next x20)", "p95_ms"]),
    ("provider detail page p95, ms", "lists", ["pages", "provider detail page", "p95_ms"]),
    ("candidate first page p95, ms", "lists", ["pages", "candidate first page", "p95_ms"]),
    ("candidate detail page p95, ms", "lists", ["pages", "candidate detail page", "p95_ms"]),
    ("spike: applications due", "spike", ["ours", "applications_due"]),
    ("spike: wait for first tick, s", "spike", ["ours", "first_tick_wait_s"]),
    ("spike: drain, s", "spike", ["ours", "drain_s"]),
    ("spike: drain, applications/s", "spike", ["ours", "drain_per_s"]),
    ("spike: emails/s (time spent sending)", "spike", ["ours", "emails_per_s"]),
    ("spike: deadline to last email, s", "spike", ["ours", "deadline_to_last_email_s"]),
    ("raw set-based SQL, s", "spike", ["raw_sql", "seconds"]),
    ("raw set-based SQL, applications/s", "spike", ["raw_sql", "per_s"]),
    ("raw SMTP (one connection per worker), emails/s", "spike", ["raw_smtp", "per_s"]),
    ("naive, applications/s", "spike", ["naive", "per_s"]),
    ("ours drain / raw SQL time (target <= 2)", "spike", ["ours_drain_vs_raw_sql"]),
    ("ours / naive rate (target >= 100)", "spike", ["ours_vs_naive"]),
    ("ours emails / raw SMTP time (target <= 2)", "spike", ["ours_emails_vs_raw_smtp"]),
]


def get(figures: dict, path: list[str]):
    value = figures
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def growth_rows(run: dict) -> tuple[list[str], list[list]]:
    sizes = run["sizes"]
    headers = ["figure"] + [f"{s['applications']:,}" for s in sizes]
    rows = []
    for label, scenario, path in HEADLINES:
        values = [get(s["scenarios"].get(scenario, {}), path) for s in sizes]
        if any(v is not None for v in values):
            rows.append([label] + ["-" if v is None else v for v in values])
    return headers, rows
