"""How each headline figure grows with the number of applications (one column per size)."""

HEADLINES = [
    ("seed", "total_s", "seed, s"),
]


def _get(figures: dict, path: str):
    value = figures
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def growth_rows(run: dict) -> tuple[list[str], list[list]]:
    sizes = run["sizes"]
    headers = ["figure"] + [f"{s['applications']:,}" for s in sizes]
    rows = []
    for scenario, path, label in HEADLINES:
        values = [_get(s["scenarios"].get(scenario, {}), path) for s in sizes]
        if any(v is not None for v in values):
            rows.append([label] + ["-" if v is None else v for v in values])
    return headers, rows
