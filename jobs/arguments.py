"""Checks on job arguments: a bad argument is a clear, non-retryable error."""


class BadJobArguments(ValueError):
    pass


def id_list(value, *, name: str) -> list[int]:
    if not isinstance(value, (list, tuple)) or not all(type(v) is int and v > 0 for v in value):
        raise BadJobArguments(f"{name} must be a list of positive integer ids, got {value!r:.200}")
    return list(value)


def an_id(value, *, name: str) -> int:
    if type(value) is not int or value < 0:
        raise BadJobArguments(f"{name} must be a non-negative integer id, got {value!r:.200}")
    return value
