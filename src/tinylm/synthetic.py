"""Synthetic text for the course, from seeded generators: stories, JSON records, arithmetic.

Three generators write the text that later chapters train and test on, and one function joins
them with the real text of chapter 1 into the course corpus:

- ``stories(n, seed)``: short children's stories from a small probabilistic grammar
  (``STORY_GRAMMAR``): a hero and a friend, a place, an object, events in the past tense,
  dialogue in quotes and a moral at the end. Chapter 3 trains a small model on them.
- ``json_records(n, seed)``: people, products and events as one-line JSON objects with strings,
  integers, floats, booleans, enums, nested objects, lists and nulls; every record is valid
  against ``json_record_schema()``. Chapter 5 constrains generation to that schema.
- ``arithmetic_problems(n, seed)``: word problems with a worked, step-by-step solution and an
  integer answer that a program can check. Chapters 9 and 10 reward a model for getting it right.
- ``course_corpus(split, seed)``: all of the above plus the Wikipedia sample and the Lee news
  stories of ``tinylm.data``, split into train and validation documents.

Every generator takes an int seed or a ``numpy.random.Generator``. The same seed gives the same
text, and the first k items of ``f(n, seed)`` are the items of ``f(k, seed)``: items are drawn
one after the other from a single generator.
"""

from __future__ import annotations

import ast
import functools
import json
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SeedLike = int | np.random.Generator


def _rng(seed: SeedLike) -> np.random.Generator:
    """A Generator from an int seed; a Generator is used as it is (and advances)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, float)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or a numpy Generator, got {type(seed).__name__}")
    return np.random.default_rng(int(seed))


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")


def _pick(rng: np.random.Generator, items: Sequence):
    """One item, each equally likely."""
    return items[int(rng.integers(len(items)))]


# ---------------------------------------------------------------------------------------------
# Stories from a small probabilistic grammar
# ---------------------------------------------------------------------------------------------

# (name, pronoun): "he" or "she". A character is a child (a girl or a boy) or an animal.
NAMES = (
    ("Lily", "she"), ("Tom", "he"), ("Mia", "she"), ("Ben", "he"), ("Anna", "she"),
    ("Leo", "he"), ("Sara", "she"), ("Max", "he"), ("Zoe", "she"), ("Sam", "he"),
    ("Ella", "she"), ("Jack", "he"), ("Nora", "she"), ("Finn", "he"), ("Ruby", "she"),
    ("Omar", "he"), ("Ava", "she"), ("Theo", "he"), ("Lucy", "she"), ("Noah", "he"),
    ("Pip", "he"), ("Daisy", "she"), ("Otto", "he"), ("Rosa", "she"),
)
ANIMALS = ("rabbit", "fox", "bear", "mouse", "owl", "duck", "cat", "dog", "frog", "squirrel",
           "turtle", "hedgehog", "puppy", "kitten", "lamb", "goat")
ADJECTIVES = ("little", "kind", "curious", "brave", "shy", "happy", "clever", "small", "young",
              "cheerful", "quiet", "playful")
# (preposition, place)
PLACES = (("in", "the forest"), ("in", "a small village"), ("in", "the garden"),
          ("in", "the park"), ("on", "a farm"), ("by", "the sea"), ("in", "a green meadow"),
          ("on", "a hill"), ("by", "the pond"), ("near", "the old mill"), ("in", "a big city"),
          ("by", "the river"), ("in", "the valley"), ("near", "the school"))
# (article, object)
OBJECTS = (("a", "red ball"), ("a", "shiny key"), ("an", "old map"), ("a", "blue kite"),
           ("a", "little boat"), ("a", "golden coin"), ("a", "soft blanket"),
           ("a", "wooden train"), ("a", "jar of honey"), ("a", "box of crayons"),
           ("a", "paper lantern"), ("a", "yellow hat"), ("a", "music box"),
           ("a", "picture book"), ("a", "toy drum"), ("a", "green scarf"), ("an", "orange kite"),
           ("a", "silver bell"))
TIMES = ("sunny morning", "rainy afternoon", "cold winter day", "warm summer evening",
         "windy autumn day", "quiet spring morning", "bright Saturday", "snowy morning")
HIDING_SPOTS = ("under the bed", "behind the big tree", "in the tall grass", "near the pond",
                "under a pile of leaves", "behind the barn", "inside an old boot",
                "next to the garden gate", "under the bench", "beside a sleeping cat")

# Choices that must agree inside one story are drawn together, as tuples:
# (what went wrong, how it was put right) for the honesty theme,
_ACCIDENTS = (
    ("dropped it in the mud", "washed the {obj} until it was clean again"),
    ("left it out in the rain", "dried the {obj} by the warm fire"),
    ("got jam all over it", "wiped the jam off the {obj}"),
    ("lost it on the way home", "walked back and found the {obj} by the road"),
)
# (what the hero started, what happened while waiting, the reward) for the patience theme,
_WAITS = (
    ("planted a tiny seed", "Every morning {he} looked, but nothing grew.",
     "a tall yellow sunflower stood where the seed had been"),
    ("built a little bird house", "Day after day, no bird came.",
     "a blue bird made a nest in the little house"),
    ("went fishing at the river", "For a long time, the water was still.",
     "{he} caught a big silver fish"),
    ("baked bread with {his} grandma", "The dough had to rest, and rest, and rest.",
     "the whole house smelled of warm bread"),
)
# (what the friend said was wrong, how the hero helped) for the kindness theme.
_TROUBLES = (
    ("I lost my way home", "{hero} took {fhim} by the hand and walked {fhim} all the way home"),
    ("I hurt my leg", "{hero} helped {fhim} up and gave {fhim} a cool cloth for {fhis} leg"),
    ("Nobody wants to play with me", "{hero} asked {fhim} to join {his} game of tag"),
    ("I am so hungry", "{hero} shared {his} lunch, and they ate it together"),
)

# The grammar: each symbol has alternatives, each equally likely. "{name}" is replaced by a
# binding of the story (below) if there is one, otherwise by expanding the symbol "name".
# Bindings: hero / friend (names), He he his him (hero's pronouns, capitalised or not),
# fhe fhis fhim (friend's), a_hero a_friend A_friend ("a shy fox named Max"),
# at_place ("in the forest"), obj / a_obj ("red ball" / "a red ball"), time, spot1..3,
# and the agreeing tuples above.
STORY_GRAMMAR: dict[str, tuple[str, ...]] = {
    "story": ("{opening} {sharing}", "{opening} {courage}", "{opening} {honesty}",
              "{opening} {teamwork}", "{opening} {patience}", "{opening} {kindness}",
              "{opening} {lost}"),
    "opening": (
        "Once upon a time, there was {a_hero} who lived {at_place}.",
        "One {time}, {a_hero} went out to play {at_place}.",
        "Long ago, {at_place}, there lived {a_hero}.",
        "There once was {a_hero}. {He} lived {at_place} with {his} family.",
    ),
    "meet": ("Just then, {a_friend} came along.", "Soon {a_friend} walked by.",
             "After a while, {a_friend} came to see {him}."),
    "said": ("said", "said", "cried", "whispered", "sobbed"),
    "happy_end": ("They laughed and played until the sun went down.",
                  "The two friends smiled at each other.",
                  "It was the best day ever.", "Everyone was happy again."),
    "moral_start": ("From that day on, {hero} knew that", "{hero} learned that",
                    "And so {hero} understood that", "That day, {hero} learned that"),
    # sharing
    "sharing": ("{have_obj} {meet} {ask_share} {refuse} {sad_friend} {lonely} {share} "
                "{happy_end} {moral_start} {lesson_sharing}.",),
    "have_obj": ("{hero} had {a_obj} that {he} loved very much.",
                 "{hero} got {a_obj} as a present from {his} grandma.",
                 "{hero} found {a_obj} and played with it all day."),
    "ask_share": ("\"Can I play with your {obj}?\" asked {friend}.",
                  "\"What a nice {obj}!\" said {friend}. \"May I try it?\""),
    "refuse": ("\"No, it is mine,\" said {hero}, and {he} held it tight.",
               "{hero} shook {his} head. \"I want to keep it for myself,\" {he} said."),
    "sad_friend": ("{friend} looked sad and walked away.",
                   "{friend} did not say a word and went home."),
    "lonely": ("Soon {hero} felt lonely. Playing alone was not much fun.",
               "{hero} played alone, but it was not fun anymore."),
    "share": ("So {he} ran after {friend} and said, \"Let's play together!\"",
              "{He} found {friend} and gave {fhim} the {obj}. \"You can have a turn,\" {he} said."),
    "lesson_sharing": ("sharing makes everyone happy", "a toy is more fun when you share it",
                       "good things get better when we share them"),
    # courage
    "courage": ("{roll_away} {scared} {meet} {encourage} {brave_step} {no_monster} "
                "{moral_start} {lesson_courage}.",),
    "roll_away": ("One day, {hero}'s {obj} rolled into {scary_place}.",
                  "The wind carried {hero}'s {obj} into {scary_place}."),
    "scary_place": ("a dark cave", "the deep, dark woods", "an old empty shed",
                    "the thick bushes", "a big hole under the hill"),
    "scared": ("{hero} was scared. \"What if there is a monster in there?\" {he} whispered.",
               "{hero} stood still. {He} did not want to go in."),
    "encourage": ("\"Be brave,\" said {friend}. \"I will stay right here.\"",
                  "\"You can do it,\" said {friend}. \"I believe in you.\""),
    "brave_step": ("{hero} took a deep breath and stepped inside.",
                   "{hero} held {his} head up high and went in, one step at a time."),
    "no_monster": ("It was dark, but there was no monster, only {harmless}. {He} picked up "
                   "the {obj} and ran back out, smiling.",
                   "Inside, {he} found only {harmless}, and next to it, the {obj}!"),
    "harmless": ("a sleepy old toad", "some dry leaves", "a family of tiny mice",
                 "a friendly spider", "a lost sock"),
    "lesson_courage": ("being brave means doing something even when you are scared",
                       "most scary things are not so scary after all",
                       "a good friend can help you find your courage"),
    # honesty
    "honesty": ("{friend_has} {borrow} {accident} {afraid} \"Where is my {obj}?\" asked "
                "{friend}. {confess} {forgive} Together they {fix}. {moral_start} "
                "{lesson_honesty}.",),
    "friend_has": ("{A_friend} had {a_obj}.", "{hero}'s best friend, {a_friend}, had {a_obj}."),
    "borrow": ("{hero} asked to borrow it, and {friend} said yes.",
               "{friend} let {hero} take it home for a day."),
    "accident": ("By accident, {hero} {accident_what}.", "Oh no! {hero} {accident_what}."),
    "afraid": ("{hero} was afraid that {friend} would be angry.",
               "{hero} thought about hiding it and saying nothing."),
    "confess": ("{hero} looked down. \"I am sorry,\" {he} said. \"It was my fault.\"",
                "\"I have to tell you the truth,\" said {hero}. \"I {accident_what}.\""),
    "forgive": ("{friend} was quiet for a moment. Then {fhe} said, \"Thank you for telling "
                "me the truth.\"", "{friend} gave {him} a hug. \"I am glad you told me,\" "
                "{fhe} said."),
    "lesson_honesty": ("telling the truth is always the right thing to do",
                       "honest friends are the best friends",
                       "it is better to say sorry than to hide a mistake"),
    # teamwork
    "teamwork": ("{stuck} {cannot} {meet} \"I can help!\" said {friend}. {together} "
                 "{happy_end} {moral_start} {lesson_teamwork}.",),
    "stuck": ("{hero}'s {obj} got stuck high up in a tree.",
              "The wind blew {hero}'s {obj} onto the roof of the barn.",
              "{hero}'s {obj} landed on a high shelf in the shed."),
    "cannot": ("{He} jumped and jumped, but {he} could not reach it.",
               "{He} tried and tried, but it was too hard to do alone."),
    "together": ("{friend} held the ladder while {hero} climbed up, and together they got "
                 "the {obj} back.", "They pushed and pulled together, and at last the {obj} "
                 "was free.", "{hero} stood on {friend}'s back and grabbed the {obj}."),
    "lesson_teamwork": ("some jobs are easier when friends work together",
                        "two friends together can do more than one alone",
                        "it is good to ask for help"),
    # patience
    "patience": ("One day, {hero} {wait_start}. {wait_nothing} {meet} \"Why is it taking so "
                 "long?\" {hero} asked {fhim}. \"Good things take time,\" said {friend}. "
                 "{waited} At last, {wait_reward}. {moral_start} {lesson_patience}.",),
    "waited": ("So {hero} waited, and waited, and waited.",
               "{hero} tried to be patient, even when it was hard."),
    "lesson_patience": ("good things come to those who wait", "patience is worth it",
                        "some things cannot be rushed"),
    # kindness
    "kindness": ("{when}, {hero} saw {a_friend} sitting alone, crying. \"What is wrong?\" "
                 "asked {hero}. \"{trouble},\" {said} {friend}. So {help}. {thanks} "
                 "{moral_start} {lesson_kindness}.",),
    "when": ("One day", "Later that day", "That afternoon", "One morning"),
    "thanks": ("\"Thank you,\" said {friend}. \"You are a true friend.\"",
               "{friend} smiled for the first time that day.",
               "From then on, {hero} and {friend} were best friends."),
    "lesson_kindness": ("a little kindness can make a big difference",
                        "helping others makes your own heart glad",
                        "it is always good to be kind"),
    # a lost object
    "lost": ("{have_obj} One day, the {obj} was gone! {hero} looked everywhere, but {he} could "
             "not find it. {meet} \"I will help you look,\" said {friend}. First they looked "
             "{spot1}. Then they looked {spot2}. At last, {friend} found the {obj} {spot3}! "
             "{happy_end} {moral_start} {lesson_lost}.",),
    "lesson_lost": ("friends help each other", "two pairs of eyes are better than one",
                    "it is good to have a friend when things go wrong"),
}


def _character(rng: np.random.Generator, avoid: str = "") -> dict[str, str]:
    name, pronoun = _pick(rng, [c for c in NAMES if c[0] != avoid])
    if rng.random() < 0.5:
        kind = "girl" if pronoun == "she" else "boy"
    else:
        kind = _pick(rng, ANIMALS)
    adjective = _pick(rng, ADJECTIVES)
    article = "an" if adjective[0] in "aeiou" else "a"
    return {"name": name, "pronoun": pronoun, "intro": f"{article} {adjective} {kind} named {name}"}


def _story_bindings(rng: np.random.Generator) -> dict[str, str]:
    hero = _character(rng)
    friend = _character(rng, avoid=hero["name"])
    he = hero["pronoun"]
    fhe = friend["pronoun"]
    prep, place = _pick(rng, PLACES)
    article, obj = _pick(rng, OBJECTS)
    spots = rng.choice(len(HIDING_SPOTS), size=3, replace=False)
    b = {
        "hero": hero["name"], "friend": friend["name"],
        "He": he.capitalize(), "he": he, "his": "his" if he == "he" else "her",
        "him": "him" if he == "he" else "her",
        "fhe": fhe, "fhis": "his" if fhe == "he" else "her",
        "fhim": "him" if fhe == "he" else "her",
        "a_hero": hero["intro"], "a_friend": friend["intro"],
        "A_friend": friend["intro"][:1].upper() + friend["intro"][1:],
        "at_place": f"{prep} {place}", "obj": obj, "a_obj": f"{article} {obj}",
        "time": _pick(rng, TIMES),
        **{f"spot{i + 1}": HIDING_SPOTS[int(s)] for i, s in enumerate(spots)},
    }
    what, fix = _pick(rng, _ACCIDENTS)
    b["accident_what"], b["fix"] = what, fix
    b["wait_start"], b["wait_nothing"], b["wait_reward"] = _pick(rng, _WAITS)
    b["trouble"], b["help"] = _pick(rng, _TROUBLES)
    return b


_SLOT = re.compile(r"\{(\w+)\}")


def _expand(symbol: str, bindings: dict[str, str], rng: np.random.Generator) -> str:
    """Expand one grammar symbol: pick an alternative, then fill its slots left to right."""
    text = _pick(rng, STORY_GRAMMAR[symbol])

    def fill(m: re.Match) -> str:
        name = m[1]
        if name in bindings:  # bindings may hold slots themselves ("{he} caught a fish")
            return _SLOT.sub(lambda m2: bindings[m2[1]], bindings[name])
        return _expand(name, bindings, rng)

    return _SLOT.sub(fill, text)


def story(rng: SeedLike) -> str:
    """One story: draw the bindings, expand "story", tidy spaces and capitals."""
    rng = _rng(rng)
    text = _expand("story", _story_bindings(rng), rng)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:1].upper() + text[1:]


def stories(n: int, seed: SeedLike = 0) -> list[str]:
    """``n`` short stories from ``STORY_GRAMMAR``, 60-130 words each.

    Each story has a hero and a friend (children or animals, with he/she pronouns used
    consistently), a place and an object, and follows one of seven themes: sharing, courage,
    honesty, teamwork, patience, kindness and a lost object. Every theme has dialogue in double
    quotes and ends with a moral ("From that day on, Tom knew that ..."). Choices that must
    agree (an accident and how it was mended) are drawn together.

    >>> stories(1, seed=0) == stories(1, seed=0)
    True
    """
    _check_n(n)
    rng = _rng(seed)
    return [story(rng) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# JSON records: people, products, events
# ---------------------------------------------------------------------------------------------

ROLES = ("engineer", "teacher", "doctor", "artist", "farmer", "chef", "pilot", "nurse")
SKILLS = ("python", "cooking", "painting", "driving", "singing", "chess", "swimming",
          "carpentry", "french", "statistics")
CITIES = ("Paris", "London", "Berlin", "Madrid", "Rome", "Vienna", "Oslo", "Lisbon", "Dublin",
          "Prague", "Sydney", "Toronto")
STREETS = ("Main Street", "Oak Avenue", "River Road", "Hill Lane", "Park Street", "Station Road",
           "Mill Lane", "Church Street")
SURNAMES = ("Smith", "Brown", "Garcia", "Miller", "Khan", "Novak", "Rossi", "Silva", "Weber",
            "Kim", "Larsen", "Dubois")
CATEGORIES = ("toys", "books", "kitchen", "garden", "sports", "music", "clothing")
PRODUCT_ADJECTIVES = ("Classic", "Deluxe", "Compact", "Wooden", "Solar", "Smart", "Mini", "Pro")
PRODUCT_NOUNS = ("Lamp", "Kettle", "Backpack", "Chess Set", "Guitar", "Teapot", "Football",
                 "Notebook", "Jacket", "Watering Can", "Puzzle", "Speaker")
CURRENCIES = ("EUR", "USD", "GBP")
EVENT_KINDS = ("Workshop", "Concert", "Meetup", "Lecture", "Festival", "Tournament", "Market")
EVENT_TOPICS = ("Jazz", "Robotics", "Baking", "Poetry", "Chess", "Gardening", "Astronomy",
                "Film", "Pottery")
PRIORITIES = ("low", "medium", "high")
RECORD_KINDS = ("person", "product", "event")

_NAME = {"type": "string", "minLength": 1, "maxLength": 40}
_SCHEMAS = {
    "person": {
        "type": "object",
        "properties": {
            "kind": {"const": "person"},
            "id": {"type": "integer", "minimum": 1, "maximum": 99999},
            "name": _NAME,
            "age": {"type": "integer", "minimum": 18, "maximum": 90},
            "email": {"type": "string", "pattern": r"^[a-z]+\.[a-z]+[0-9]*@example\.(com|org)$"},
            "height_m": {"type": "number", "minimum": 1.4, "maximum": 2.1},
            "is_member": {"type": "boolean"},
            "role": {"enum": list(ROLES)},
            "address": {
                "type": "object",
                "properties": {
                    "street": {"type": "string",
                               "pattern": r"^[0-9]{1,3} [A-Z][a-z]+ [A-Z][a-z]+$"},
                    "city": {"enum": list(CITIES)},
                    "zip": {"type": "string", "pattern": r"^[0-9]{5}$"},
                },
                "required": ["street", "city", "zip"],
                "additionalProperties": False,
            },
            "skills": {"type": "array", "items": {"enum": list(SKILLS)}, "maxItems": 4,
                       "uniqueItems": True},
            "manager_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 99999},
        },
        "required": ["kind", "id", "name", "age", "email", "height_m", "is_member", "role",
                     "address", "skills", "manager_id"],
        "additionalProperties": False,
    },
    "product": {
        "type": "object",
        "properties": {
            "kind": {"const": "product"},
            "id": {"type": "integer", "minimum": 1, "maximum": 99999},
            "name": _NAME,
            "price": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
            "currency": {"enum": list(CURRENCIES)},
            "in_stock": {"type": "boolean"},
            "quantity": {"type": "integer", "minimum": 0, "maximum": 500},
            "category": {"enum": list(CATEGORIES)},
            "dimensions_cm": {
                "type": "object",
                "properties": {k: {"type": "number", "exclusiveMinimum": 0, "maximum": 200}
                               for k in ("width", "height", "depth")},
                "required": ["width", "height", "depth"],
                "additionalProperties": False,
            },
            "ratings": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 5},
                        "maxItems": 6},
        },
        "required": ["kind", "id", "name", "price", "currency", "in_stock", "quantity",
                     "category", "dimensions_cm", "ratings"],
        "additionalProperties": False,
    },
    "event": {
        "type": "object",
        "properties": {
            "kind": {"const": "event"},
            "id": {"type": "integer", "minimum": 1, "maximum": 99999},
            "title": _NAME,
            "date": {"type": "string", "pattern": r"^2025-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"},
            "duration_h": {"type": "number", "minimum": 0.5, "maximum": 8},
            "priority": {"enum": list(PRIORITIES)},
            "location": {
                "type": "object",
                "properties": {"city": {"enum": list(CITIES)}, "indoor": {"type": "boolean"}},
                "required": ["city", "indoor"],
                "additionalProperties": False,
            },
            "attendees": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": _NAME, "confirmed": {"type": "boolean"}},
                    "required": ["name", "confirmed"],
                    "additionalProperties": False,
                },
                "minItems": 1, "maxItems": 4,
            },
            "notes": {"type": ["string", "null"]},
        },
        "required": ["kind", "id", "title", "date", "duration_h", "priority", "location",
                     "attendees", "notes"],
        "additionalProperties": False,
    },
}
_NOTES = ("Bring a notebook.", "Tickets at the door.", "Free entry.", "Doors open early.",
          "Snacks provided.")


def json_record_schema(kind: str | None = None) -> dict:
    """The JSON Schema (draft 2020-12) of the records: one kind's, or all three under "oneOf".

    Every field is required and no other field is allowed, so the schema pins down the shape
    exactly; the "kind" field ("person", "product" or "event") tells the three apart.
    """
    if kind is None:
        return {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "oneOf": [json_record_schema(k) for k in RECORD_KINDS]}
    if kind not in _SCHEMAS:
        raise ValueError(f"kind must be one of {RECORD_KINDS}, got {kind!r}")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": kind,
            **json.loads(json.dumps(_SCHEMAS[kind]))}  # a deep copy: callers may edit it


def _person_name(rng: np.random.Generator) -> tuple[str, str]:
    return _pick(rng, NAMES)[0], _pick(rng, SURNAMES)


def _person(rng: np.random.Generator) -> dict:
    first, last = _person_name(rng)
    n_skills = int(rng.integers(0, 5))
    skills = [SKILLS[int(i)] for i in sorted(rng.choice(len(SKILLS), n_skills, replace=False))]
    number = int(rng.integers(1, 100))
    return {
        "kind": "person",
        "id": int(rng.integers(1, 100000)),
        "name": f"{first} {last}",
        "age": int(rng.integers(18, 91)),
        "email": f"{first.lower()}.{last.lower()}{number if rng.random() < 0.5 else ''}"
                 f"@example.{_pick(rng, ('com', 'org'))}",
        "height_m": round(float(rng.uniform(1.5, 2.0)), 2),
        "is_member": bool(rng.random() < 0.5),
        "role": _pick(rng, ROLES),
        "address": {"street": f"{int(rng.integers(1, 300))} {_pick(rng, STREETS)}",
                    "city": _pick(rng, CITIES), "zip": f"{int(rng.integers(0, 100000)):05d}"},
        "skills": skills,
        "manager_id": int(rng.integers(1, 100000)) if rng.random() < 0.6 else None,
    }


def _product(rng: np.random.Generator) -> dict:
    quantity = int(rng.integers(0, 501)) if rng.random() < 0.8 else 0
    return {
        "kind": "product",
        "id": int(rng.integers(1, 100000)),
        "name": f"{_pick(rng, PRODUCT_ADJECTIVES)} {_pick(rng, PRODUCT_NOUNS)}",
        "price": round(float(rng.uniform(1, 500)), 2),
        "currency": _pick(rng, CURRENCIES),
        "in_stock": quantity > 0,
        "quantity": quantity,
        "category": _pick(rng, CATEGORIES),
        "dimensions_cm": {k: round(float(rng.uniform(1, 120)), 1)
                          for k in ("width", "height", "depth")},
        "ratings": [int(r) for r in rng.integers(1, 6, size=int(rng.integers(0, 7)))],
    }


def _event(rng: np.random.Generator) -> dict:
    attendees = []
    for _ in range(int(rng.integers(1, 5))):
        first, last = _person_name(rng)
        attendees.append({"name": f"{first} {last}", "confirmed": bool(rng.random() < 0.7)})
    return {
        "kind": "event",
        "id": int(rng.integers(1, 100000)),
        "title": f"{_pick(rng, EVENT_TOPICS)} {_pick(rng, EVENT_KINDS)}",
        "date": f"2025-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
        "duration_h": float(rng.integers(1, 17)) / 2,
        "priority": _pick(rng, PRIORITIES),
        "location": {"city": _pick(rng, CITIES), "indoor": bool(rng.random() < 0.6)},
        "attendees": attendees,
        "notes": _pick(rng, _NOTES) if rng.random() < 0.5 else None,
    }


_RECORD_MAKERS = {"person": _person, "product": _product, "event": _event}


def json_record(rng: SeedLike, kind: str | None = None) -> dict:
    """One record as a Python dict; ``kind`` None picks one of the three kinds at random."""
    rng = _rng(rng)
    kind = _pick(rng, RECORD_KINDS) if kind is None else kind
    if kind not in _RECORD_MAKERS:
        raise ValueError(f"kind must be one of {RECORD_KINDS}, got {kind!r}")
    return _RECORD_MAKERS[kind](rng)


def json_records(n: int, seed: SeedLike = 0, kind: str | None = None) -> list[str]:
    """``n`` records serialised with ``json.dumps`` (one line each, keys in a fixed order).

    Three kinds, told apart by the "kind" field (see ``json_record_schema()`` for every field):

    - person: id, name, age, email, height_m (float), is_member (bool), role (enum), address
      (an object: street, city, zip), skills (a list of enums), manager_id (int or null);
    - product: id, name, price (float), currency (enum), in_stock (bool), quantity, category
      (enum), dimensions_cm (an object of three floats), ratings (a list of ints 1-5);
    - event: id, title, date ("2025-MM-DD"), duration_h (float), priority (enum), location (an
      object: city, indoor), attendees (a list of objects: name, confirmed), notes (str or null).

    >>> json.loads(json_records(1, seed=0, kind="event")[0])["kind"]
    'event'
    """
    _check_n(n)
    rng = _rng(seed)
    return [json.dumps(json_record(rng, kind)) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# Arithmetic word problems with worked solutions
# ---------------------------------------------------------------------------------------------

ITEMS = ("apples", "marbles", "stickers", "cookies", "books", "pencils", "shells", "cards",
         "eggs", "flowers")


@dataclass(frozen=True)
class ArithmeticProblem:
    """A word problem, its worked solution and its integer answer.

    ``steps`` are sentences, each with one calculation written "a op b = c" (op is + - * /);
    ``expression`` computes the answer from the numbers in the question, in Python syntax.
    """

    question: str
    steps: tuple[str, ...]
    answer: int
    expression: str

    @property
    def solution(self) -> str:
        return " ".join(self.steps)

    @property
    def text(self) -> str:
        """The problem as one document: question, worked solution, final answer."""
        return f"Question: {self.question}\nSolution: {self.solution}\nAnswer: {self.answer}"


_ANSWER = re.compile(r"Answer:\s*(-?\d+)\s*$")


def extract_answer(text: str) -> int | None:
    """The integer after the last "Answer:" at the end of ``text``, or None if there is none."""
    m = _ANSWER.search(text.strip())
    return int(m[1]) if m else None


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.FloorDiv: operator.floordiv}


def evaluate(expression: str) -> int:
    """Evaluate integer arithmetic (+ - * // and parentheses) without ``eval``."""
    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"not integer arithmetic: {ast.dump(node)}")
    return walk(ast.parse(expression, mode="eval"))


def _unit(count: int, items: str) -> str:
    """ "apples" for any count but one; "apple" for one."""
    return items[:-1] if count == 1 and items.endswith("s") else items


def _problem_buy_give(rng, name, he, friend, item):
    a, b = int(rng.integers(5, 60)), int(rng.integers(2, 40))
    c = int(rng.integers(1, a + b))
    return (f"{name} has {a} {item}. {he.capitalize()} gets {b} more, then gives {c} to {friend}. "
            f"How many {item} does {name} have now?",
            (f"After getting more, {name} has {a} + {b} = {a + b} {item}.",
             f"After giving some away, {he} has {a + b} - {c} = {a + b - c} "
             f"{_unit(a + b - c, item)}."),
            f"{a} + {b} - {c}")


def _problem_boxes(rng, name, he, friend, item):
    a, b, c = int(rng.integers(2, 10)), int(rng.integers(3, 13)), int(rng.integers(0, 30))
    return (f"{name} buys {a} boxes of {item}. Each box holds {b} {item}. {he.capitalize()} "
            f"already had {c} {item}. How many {item} does {name} have in all?",
            (f"The boxes hold {a} * {b} = {a * b} {item}.",
             f"In all, {name} has {a * b} + {c} = {a * b + c} {item}."),
            f"{a} * {b} + {c}")


def _problem_share(rng, name, he, friend, item):
    each, k = int(rng.integers(2, 15)), int(rng.integers(2, 9))
    eaten = int(rng.integers(1, each))
    total = each * k
    return (f"{name} has {total} {item} and shares them equally among {k} friends. Each friend "
            f"then loses {eaten}. How many {item} does each friend have left?",
            (f"Each friend gets {total} / {k} = {each} {item}.",
             f"After losing some, each friend has {each} - {eaten} = {each - eaten} "
             f"{_unit(each - eaten, item)}."),
            f"{total} // {k} - {eaten}")


def _problem_change(rng, name, he, friend, item):
    price, q = int(rng.integers(2, 25)), int(rng.integers(2, 6))
    cost = price * q
    note = next(v for v in (20, 50, 100, 200) if v > cost)
    thing = item[:-1] if item.endswith("s") else item
    article = "An" if thing[0] in "aeiou" else "A"
    return (f"{article} {thing} costs {price} dollars. {name} buys {q} of them and pays with a "
            f"{note}-dollar note. How much change does {he} get?",
            (f"The {item} cost {q} * {price} = {cost} dollars.",
             f"The change is {note} - {cost} = {note - cost} dollars."),
            f"{note} - {q} * {price}")


def _problem_reading(rng, name, he, friend, item):
    p, d = int(rng.integers(5, 30)), int(rng.integers(2, 10))
    total = p * d + int(rng.integers(10, 200))
    return (f"A book has {total} pages. {name} reads {p} pages every day for {d} days. How many "
            f"pages are left to read?",
            (f"{name} reads {p} * {d} = {p * d} pages.",
             f"The pages left are {total} - {p * d} = {total - p * d}."),
            f"{total} - {p} * {d}")


def _problem_ages(rng, name, he, friend, item):
    a, b, c = int(rng.integers(4, 40)), int(rng.integers(1, 30)), int(rng.integers(1, 20))
    return (f"{name} is {a} years old. {friend} is {b} years older than {name}. How old will "
            f"{friend} be in {c} years?",
            (f"{friend} is {a} + {b} = {a + b} years old now.",
             f"In {c} years, {friend} will be {a + b} + {c} = {a + b + c} years old."),
            f"{a} + {b} + {c}")


def _problem_garden(rng, name, he, friend, item):
    w, h = int(rng.integers(2, 30)), int(rng.integers(2, 30))
    return (f"{name}'s garden is a rectangle {w} metres long and {h} metres wide. "
            f"{he.capitalize()} puts a fence all around it. How many metres of fence does "
            f"{he} need?",
            (f"One long side and one short side make {w} + {h} = {w + h} metres.",
             f"The whole fence is 2 * {w + h} = {2 * (w + h)} metres."),
            f"2 * ({w} + {h})")


def _problem_trips(rng, name, he, friend, item):
    per, trips, left = int(rng.integers(3, 12)), int(rng.integers(2, 8)), int(rng.integers(1, 10))
    total = per * trips
    return (f"{name} and {friend} carry {item} to the shed. Each trip they carry {per} {item}. "
            f"They make {trips} trips, and {left} {item} are still left outside. How many "
            f"{item} were there at the start?",
            (f"They carried {per} * {trips} = {total} {item}.",
             f"At the start there were {total} + {left} = {total + left} {item}."),
            f"{per} * {trips} + {left}")


def _problem_savings(rng, name, he, friend, item):
    week, weeks = int(rng.integers(2, 20)), int(rng.integers(2, 12))
    saved = week * weeks
    spent = int(rng.integers(1, saved))
    return (f"{name} saves {week} dollars every week for {weeks} weeks. Then {he} spends {spent} "
            f"dollars on a present for {friend}. How much money does {name} have left?",
            (f"{name} saves {week} * {weeks} = {saved} dollars.",
             f"After the present, {he} has {saved} - {spent} = {saved - spent} dollars."),
            f"{week} * {weeks} - {spent}")


_PROBLEMS = (_problem_buy_give, _problem_boxes, _problem_share, _problem_change,
             _problem_reading, _problem_ages, _problem_garden, _problem_trips, _problem_savings)


def arithmetic_problem(rng: SeedLike) -> ArithmeticProblem:
    """One problem from one of nine templates (two steps each), numbers drawn at random."""
    rng = _rng(rng)
    make = _pick(rng, _PROBLEMS)
    (name, pronoun), friend = _pick(rng, NAMES), _pick(rng, NAMES)[0]
    while friend == name:
        friend = _pick(rng, NAMES)[0]
    question, steps, expression = make(rng, name, pronoun, friend, _pick(rng, ITEMS))
    steps = tuple(s[0].upper() + s[1:] for s in steps)
    answer = evaluate(expression)
    steps += (f"The answer is {answer}.",)
    return ArithmeticProblem(question, steps, answer, expression)


def arithmetic_problems(n: int, seed: SeedLike = 0) -> list[ArithmeticProblem]:
    """``n`` word problems, each with a worked two-step solution and a non-negative int answer.

    Nine templates: buying and giving away, boxes of items, sharing equally, change from a
    note, pages left in a book, ages, a fence around a garden, trips to carry things, savings.
    Each step is a sentence holding one calculation "a op b = c"; the answer is
    ``evaluate(problem.expression)``, a formula over the numbers in the question, so a test (or
    a reward function) can check it. ``problem.text`` is the document form:

        Question: ...
        Solution: ... The answer is 42.
        Answer: 42
    """
    _check_n(n)
    rng = _rng(seed)
    return [arithmetic_problem(rng) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# The course corpus
# ---------------------------------------------------------------------------------------------

CORPUS_KINDS = ("wiki", "lee", "stories", "json", "arithmetic")
# How many synthetic documents the course corpus holds of each kind.
CORPUS_SIZES = {"stories": 5000, "json": 3000, "arithmetic": 3000}


@functools.lru_cache(maxsize=4)
def _corpus(seed: int) -> dict[str, tuple[str, ...]]:
    from tinylm import data

    # separate, fixed streams per kind: changing one generator leaves the others' text alone
    streams = np.random.SeedSequence(seed).spawn(3)
    return {
        "wiki": tuple(text for _title, text in data.wiki_articles()),
        "lee": data.lee_documents(),
        "stories": tuple(stories(CORPUS_SIZES["stories"], np.random.default_rng(streams[0]))),
        "json": tuple(json_records(CORPUS_SIZES["json"], np.random.default_rng(streams[1]))),
        "arithmetic": tuple(p.text for p in arithmetic_problems(
            CORPUS_SIZES["arithmetic"], np.random.default_rng(streams[2]))),
    }


def course_documents(split: str = "train", seed: int = 0, validation_fraction: float = 0.05,
                     kinds: Sequence[str] = CORPUS_KINDS) -> dict[str, list[str]]:
    """The course corpus by kind: {"wiki": [...], "lee": [...], ...} for one split.

    Each kind is split on its own with ``tinylm.data.train_test_split``, so every kind has the
    same share of documents in the validation split.
    """
    from tinylm.data import train_test_split

    if split not in ("train", "validation", "all"):
        raise ValueError(f'split must be "train", "validation" or "all", got {split!r}')
    unknown = set(kinds) - set(CORPUS_KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; the kinds are {CORPUS_KINDS}")
    corpus = _corpus(int(seed))
    out = {}
    for kind in kinds:
        docs = list(corpus[kind])
        if split != "all":
            train, validation = train_test_split(docs, validation_fraction, seed)
            docs = train if split == "train" else validation
        out[kind] = docs
    return out


def course_corpus(split: str = "train", seed: int = 0, validation_fraction: float = 0.05,
                  kinds: Sequence[str] = CORPUS_KINDS) -> list[str]:
    """The course corpus as a list of documents; ``split`` is "train", "validation" or "all".

    With ``seed=0`` (the corpus the course tokenizer and models are trained on), all splits:

    ========== ========= ========== =============================================
    kind       documents characters what
    ========== ========= ========== =============================================
    wiki       106       2.84 M     Wikipedia sample (ch. 1): 340-100,000 each
    lee        300       0.36 M     Lee news stories (ch. 1): 290-3,800 each
    stories    5000      2.39 M     ``stories``: 325-620 characters each
    json       3000      0.84 M     ``json_records``: 220-400 characters each
    arithmetic 3000      0.74 M     ``arithmetic_problems``: 200-310 characters
    ========== ========= ========== =============================================

    About 7.2 M characters (7.2 MB of UTF-8) in all; 5 % of each kind goes to validation
    (10,836 training and 570 validation documents). The real text is the same whatever the
    seed; the seed draws the synthetic text and the split.
    Documents come kind by kind, in the order of ``kinds``.
    """
    docs = course_documents(split, seed, validation_fraction, kinds)
    return [d for kind in kinds for d in docs[kind]]
