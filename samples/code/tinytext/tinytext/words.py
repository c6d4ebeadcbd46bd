"""Word-level helpers."""

import re

_WORD = re.compile(r"[A-Za-z0-9']+")


def words(text):
    """Split ``text`` into words: runs of letters, digits and apostrophes.

    >>> words("Don't panic, it's 42!")
    ["Don't", 'panic', "it's", '42']
    """
    return _WORD.findall(text)


def count_words(text):
    """Count the words of ``text``.

    >>> count_words("the quick brown fox")
    4
    >>> count_words("   ")
    0
    """
    return len(words(text))


def is_palindrome(word):
    """Tell whether ``word`` reads the same backwards, ignoring case.

    >>> is_palindrome("Level")
    True
    >>> is_palindrome("python")
    False
    """
    lowered = word.lower()
    return lowered == lowered[::-1]


def acronym(phrase):
    """The upper-case initials of the words of ``phrase``.

    >>> acronym("portable network graphics")
    'PNG'
    """
    return "".join(w[0].upper() for w in words(phrase))


def shout(text):
    return text.upper() + "!"


class Counter:
    """Counts how often each word occurs, case-insensitively."""

    def __init__(self):
        self.counts = {}

    def add(self, text):
        """Count the words of ``text``; return how many were added.

        >>> c = Counter()
        >>> c.add("a b a")
        3
        >>> c.counts["a"]
        2
        """
        added = 0
        for w in words(text):
            key = w.lower()
            self.counts[key] = self.counts.get(key, 0) + 1
            added += 1
        return added
