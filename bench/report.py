"""The tables printed to stdout (the JSON holds everything), and the same as Markdown for the docs.

    .venv/bin/python -m bench.report bench/results/<file>.json     Markdown tables of a run
"""

import json
import sys


def fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(headers: list[str], rows: list[list]) -> None:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths))))
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def print_scenario(name: str, figures: dict) -> None:
    table = figures.get("table")
    if table:
        print_table(table["headers"], table["rows"])
    scalars = [[key, value] for key, value in figures.items()
               if isinstance(value, (int, float, str)) and key not in {"table", "error"}]
    if scalars:
        print_table(["figure", "value"], scalars)
    if figures.get("error"):
        print(f"error: {figures['error'][:2000]}")


def print_summary(run: dict) -> None:
    """One line per headline figure and one column per size: with several sizes, the growth table."""
    from bench.growth import growth_rows

    headers, rows = growth_rows(run)
    print("\n=== summary ===")
    print_table(headers, rows)


def markdown(run: dict) -> str:
    from bench.growth import growth_rows

    parts = []
    for size in run["sizes"]:
        for name, figures in size["scenarios"].items():
            if figures.get("table"):
                parts.append(f"#### {name}, {size['applications']:,} applications\n\n"
                             + markdown_table(figures["table"]["headers"], figures["table"]["rows"]))
    headers, rows = growth_rows(run)
    parts.append("#### Growth\n\n" + markdown_table(headers, rows))
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(markdown(json.load(open(sys.argv[1]))))
