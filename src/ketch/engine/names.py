"""Container ids, Docker-style generated names (adjective_surname), and links' names."""

from __future__ import annotations

import os
import random

ADJECTIVES = (
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful",
    "blissful", "bold", "boring", "brave", "busy", "charming", "clever", "compassionate",
    "competent", "condescending", "confident", "cool", "cranky", "crazy", "dazzling", "determined",
    "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent",
    "epic", "exciting", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty",
    "funny", "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore", "heuristic",
    "hopeful", "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly",
    "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing",
    "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic",
    "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical",
    "recursing", "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy",
    "stoic", "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting",
    "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful",
    "xenodochial", "youthful", "zealous", "zen",
)
SURNAMES = (
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "babbage", "banach",
    "bardeen", "bartik", "bassi", "bell", "benz", "bhabha", "blackburn", "bohr", "booth", "borg",
    "bose", "brahmagupta", "brattain", "brown", "burnell", "cannon", "carson", "cerf",
    "chandrasekhar", "chaplygin", "chatelet", "clarke", "cohen", "colden", "cori", "cray", "curie",
    "darwin", "davinci", "dijkstra", "dirac", "driscoll", "dubinsky", "easley", "edison",
    "einstein", "elion", "engelbart", "euclid", "euler", "faraday", "fermat", "fermi", "feynman",
    "franklin", "galileo", "gates", "goldberg", "goldstine", "golick", "goodall", "hamilton",
    "hawking", "heisenberg", "hermann", "hodgkin", "hofstadter", "hopper", "hugle", "hypatia",
    "jackson", "jang", "jennings", "johnson", "joliot", "kalam", "keldysh", "kepler", "khorana",
    "kilby", "knuth", "kowalevski", "lalande", "lamarr", "lamport", "leakey", "leavitt", "lewin",
    "lichterman", "liskov", "lovelace", "lumiere", "mahavira", "mayer", "mccarthy", "mcclintock",
    "mclean", "meitner", "mendel", "merkle", "mirzakhani", "morse", "murdock", "napier", "newton",
    "nobel", "noether", "northcutt", "noyce", "pare", "pascal", "pasteur", "payne", "perlman",
    "pike", "poincare", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "robinson", "rosalind",
    "rubin", "saha", "sammet", "shamir", "shannon", "shaw", "shockley", "sinoussi", "snyder",
    "spence", "stallman", "stonebraker", "swanson", "swartz", "taussig", "tesla", "thompson",
    "torvalds", "turing", "varahamihira", "visvesvaraya", "volhard", "wescoff", "wiles",
    "williams", "wilson", "wing", "wozniak", "wright", "wu", "yalow", "yonath",
)


def new_id() -> str:
    """64 hex digits, never all-numeric (Docker avoids ids that parse as numbers)."""
    while True:
        cid = os.urandom(32).hex()
        if not cid[:12].isdigit():
            return cid


def generate_name(taken: set[str]) -> str:
    for attempt in range(100):
        name = f"{random.choice(ADJECTIVES)}_{random.choice(SURNAMES)}"
        if attempt > 10:
            name += str(random.randint(0, 9))
        if name not in taken:
            return name
    return f"ketch_{new_id()[:12]}"


def valid_name(name: str) -> bool:
    """Docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a leading / is allowed and dropped)."""
    name = name.removeprefix("/")
    if len(name) < 2:
        return False
    ok = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    return name[0].isalnum() and name[0].isascii() and set(name) <= ok


def parse_link(link: object) -> tuple[str, str]:
    """A link ("name:alias", "name", or the API's "/name:/parent/alias") as (the linked
    container, the alias it is known by)."""
    target, _, alias = str(link).partition(":")
    target = target.strip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else target
    return target, alias
