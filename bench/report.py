"""The tables printed to stdout (the JSON holds everything)."""


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(headers: list[str], rows: list[list]) -> None:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths))))
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))


def print_scenario(name: str, figures: dict) -> None:
    rows = figures.get("table")
    if rows:
        print_table(rows["headers"], rows["rows"])
    scalars = [[key, value] for key, value in figures.items() if isinstance(value, (int, float, str)) and key != "table"]
    if scalars:
        print_table(["figure", "value"], scalars)


def print_summary(run: dict) -> None:
    """One line per size and headline figure; with several sizes, this is the growth table."""
    from bench.growth import growth_rows

    headers, rows = growth_rows(run)
    print("\n=== summary ===")
    print_table(headers, rows)
