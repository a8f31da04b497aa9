"""Set-based writes the ORM has no verb for: ``INSERT INTO ... SELECT``.

A spike writes hundreds of thousands of rows (timeline events, outbox emails) derived
from rows already in the database. Building a model instance per row costs more than the
database's own work; ``INSERT ... SELECT`` lets the database do it in one statement. The
SELECT is an ordinary queryset, so lookups, joins and functions stay Django's and work on
PostgreSQL and SQLite alike.
"""

from django.db import connections
from django.db.models import Model, QuerySet


def insert_from_select(
    model: type[Model], columns: dict, source: QuerySet, *, unique_field: str | None = None
) -> list[int]:
    """Insert one row of ``model`` per row of ``source``; return the new rows' primary keys.

    ``columns`` maps a field name of ``model`` to an expression over ``source`` (``F``,
    ``Value``, functions). Fields left out get their database default (``db_default``).
    With ``unique_field``, rows that would repeat an existing value are skipped
    (``ON CONFLICT DO NOTHING``) and only the inserted rows' keys are returned.
    """
    opts = model._meta
    names = list(columns)
    select = source.order_by().values_list(*(columns[name] for name in names))
    connection = connections[select.db]
    sql, params = select.query.get_compiler(connection=connection).as_sql()
    quote = connection.ops.quote_name
    target = ", ".join(quote(opts.get_field(name).column) for name in names)
    statement = f"INSERT INTO {quote(opts.db_table)} ({target}) {sql}"
    if unique_field:
        statement += f" ON CONFLICT ({quote(opts.get_field(unique_field).column)}) DO NOTHING"
    statement += f" RETURNING {quote(opts.pk.column)}"
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return [row[0] for row in cursor.fetchall()]
