"""A library only the pack's virtualenv has."""

WORD = "fixture-dep"


def greet(greeting, name):
    return "%s, %s! (from fixture_greeting)" % (greeting, name)
