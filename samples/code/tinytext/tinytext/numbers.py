"""Number helpers."""

from tinytext.words import words


def clamp(value, low, high):
    """Limit ``value`` to the closed range [low, high].

    >>> clamp(5, 0, 3)
    3
    >>> clamp(-1, 0, 3)
    0
    """
    if low > high:
        raise ValueError("low must not exceed high")
    return max(low, min(value, high))


def mean(values):
    """The arithmetic mean of a non-empty sequence of numbers."""
    if not values:
        raise ValueError("mean of an empty sequence")
    return sum(values) / len(values)


def digit_sum(n):
    """The sum of the decimal digits of the integer ``n`` (its sign ignored).

    >>> digit_sum(1234)
    10
    >>> digit_sum(-907)
    16
    """
    return sum(int(d) for d in str(abs(n)))


def numbers_in(text):
    """The integers written in ``text``, in order.

    >>> numbers_in("3 apples and 12 pears")
    [3, 12]
    """
    return [int(w) for w in words(text) if w.isdigit()]


def percent(part, whole):
    """``part`` as a percentage of ``whole``, rounded to one decimal.

    >>> percent(1, 3)
    33.4
    """
    return round(100 * part / whole, 1)


def countdown(n):
    """Count down from ``n`` to zero; an example whose doctest never ends.

    >>> countdown(3)
    0
    """
    while n != 0:
        n -= 2
    return n
