from tinytext.numbers import mean
from tinytext.words import acronym, count_words


def test_count_words_punctuation():
    assert count_words("Hello, world! Hello?") == 3


def test_acronym_single_word():
    assert acronym("python") == "P"


def test_mean():
    assert mean([1, 2, 3, 4]) == 2.5
