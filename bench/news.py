"""A seeded news corpus for the near-duplicate benchmark, built apart from the matcher's vocabulary.

Stories are English sentences put together from phrase lists: people, roles, places, organisations,
numbers and dates drawn from lists, one topic a story, a background paragraph, and British spellings
in common words. `copy` makes the rewrites syndicated copies get in the wild (scattered word edits,
truncation, an outlet's intro, reordered paragraphs, American spelling, updated numbers), each with a
new title and its own markup and boilerplate; `hard_negative` another story with the same people,
topic and place, the same background paragraph, and (if asked) the same headline.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

FIRST = [
    "Maria",
    "Elena",
    "Tomas",
    "Aisha",
    "Kwame",
    "Ingrid",
    "Rahul",
    "Sofia",
    "Dmitri",
    "Amara",
    "Lukas",
    "Chen",
    "Fatima",
    "Olusegun",
    "Hanna",
    "Pedro",
    "Yusuf",
    "Clara",
    "Mateo",
    "Nadia",
    "Johan",
    "Priya",
    "Kenji",
    "Lucia",
    "Emeka",
    "Greta",
    "Omar",
    "Irene",
    "Viktor",
    "Leila",
    "Samuel",
    "Astrid",
    "Diego",
    "Mei",
    "Tariq",
    "Helena",
    "Bongani",
    "Ana",
    "Pavel",
    "Rosa",
    "Hamid",
    "Julia",
    "Arjun",
    "Elif",
    "Marco",
    "Zanele",
    "Felix",
    "Noor",
]
LAST = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Castillo",
    "Nakamura",
    "Haddad",
    "Kowalski",
    "Mensah",
    "Ferreira",
    "Novak",
    "Brennan",
    "Sato",
    "Petrenko",
    "Rahman",
    "Delgado",
    "Eriksen",
    "Adeyemi",
    "Fischer",
    "Rossi",
    "Kaplan",
    "Osei",
    "Varga",
    "Bianchi",
    "Hughes",
    "Tanaka",
    "Yilmaz",
    "Mwangi",
    "Duarte",
    "Holm",
    "Ibrahim",
    "Laurent",
    "Costa",
    "Schmidt",
    "Abara",
    "Quinn",
    "Morales",
    "Volkov",
    "Singh",
    "Hartmann",
]
ROLES = [
    "prime minister",
    "finance minister",
    "health secretary",
    "defence minister",
    "mayor",
    "governor",
    "chief executive",
    "police commissioner",
    "opposition leader",
    "central bank governor",
    "foreign minister",
    "union leader",
    "chief prosecutor",
    "energy minister",
    "party chairman",
]
PLACES = [
    "Lisbon",
    "Nairobi",
    "Manila",
    "Rotterdam",
    "Lagos",
    "Krakow",
    "Valparaiso",
    "Osaka",
    "Tunis",
    "Leeds",
    "Bergen",
    "Porto",
    "Accra",
    "Gdansk",
    "Cebu",
    "Lyon",
    "Durban",
    "Quito",
    "Tampere",
    "Mombasa",
    "Seville",
    "Brno",
    "Izmir",
    "Cardiff",
    "Penang",
    "Bilbao",
    "Kumasi",
    "Aarhus",
    "Cusco",
    "Graz",
    "Hobart",
    "Surabaya",
    "Malmo",
    "Arequipa",
    "Bologna",
    "Kisumu",
    "Dundee",
    "Zagreb",
    "Recife",
    "Tartu",
]
ORGS = [
    "the Ministry of Health",
    "the National Grid",
    "the Central Bank",
    "the Transport Authority",
    "the Electoral Commission",
    "the Federation of Small Businesses",
    "the Red Cross",
    "the Port Authority",
    "the Supreme Court",
    "the Meteorological Office",
    "the Teachers' Union",
    "the Competition Authority",
    "the Defence Ministry",
    "the Water Board",
    "the Statistics Office",
    "Northwind Energy",
    "Harbour Freight Lines",
    "Meridian Telecom",
    "Atlas Mining",
    "Crestview Bank",
]
TOPICS: dict[str, dict[str, list[str]]] = {
    "floods": {
        "event": ["flooding", "a burst river bank", "torrential rain", "a mudslide", "flash floods"],
        "thing": [
            "relief programme",
            "evacuation centre",
            "flood defences",
            "emergency shelters",
            "drainage network",
            "rescue operation",
        ],
        "effect": ["displaced", "evacuated", "left without power", "stranded", "rescued"],
    },
    "strike": {
        "event": ["a national strike", "a walkout", "the pay dispute", "industrial action", "a picket"],
        "thing": ["pay offer", "labour agreement", "pension scheme", "overtime rules", "wage settlement"],
        "effect": ["stranded", "affected", "sent home", "left waiting", "delayed"],
    },
    "election": {
        "event": [
            "the run-off",
            "the early vote count",
            "the coalition talks",
            "the recount",
            "the campaign",
        ],
        "thing": ["ballot", "coalition programme", "turnout figures", "polling stations", "manifesto"],
        "effect": ["registered", "turned away", "counted", "mobilised", "polled"],
    },
    "economy": {
        "event": [
            "the rate decision",
            "the budget statement",
            "the currency slide",
            "the bond sale",
            "the trade figures",
        ],
        "thing": ["interest rate", "inflation forecast", "spending programme", "tax plan", "trade balance"],
        "effect": ["priced out", "hit", "laid off", "squeezed", "rehired"],
    },
    "fire": {
        "event": ["a warehouse fire", "a wildfire", "an explosion at the plant", "a blaze", "a gas leak"],
        "thing": ["fire service", "safety inspection", "evacuation plan", "smoke alarms", "building licence"],
        "effect": ["injured", "evacuated", "treated in hospital", "killed", "rescued"],
    },
    "court": {
        "event": [
            "the corruption trial",
            "the appeal hearing",
            "the fraud case",
            "the inquiry",
            "the verdict",
        ],
        "thing": ["defence team", "witness statement", "sentencing hearing", "plea agreement", "evidence"],
        "effect": ["charged", "questioned", "acquitted", "detained", "released on bail"],
    },
    "health": {
        "event": [
            "the outbreak",
            "a vaccination drive",
            "the hospital backlog",
            "a measles cluster",
            "the cholera cases",
        ],
        "thing": ["vaccination programme", "health centre", "testing capacity", "hospital beds", "clinics"],
        "effect": ["infected", "vaccinated", "admitted to hospital", "treated", "tested"],
    },
    "transport": {
        "event": [
            "the rail collision",
            "a derailment",
            "the bridge closure",
            "the ferry delay",
            "a signal failure",
        ],
        "thing": ["timetable", "maintenance programme", "safety review", "rail network", "tyre inspection"],
        "effect": ["injured", "delayed", "stranded", "rerouted", "evacuated"],
    },
}
ADJECTIVES = [
    "serious",
    "unacceptable",
    "difficult",
    "encouraging",
    "worrying",
    "historic",
    "modest",
    "unprecedented",
    "fragile",
    "urgent",
    "disappointing",
    "significant",
    "unusual",
    "careful",
    "costly",
    "welcome",
    "temporary",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
SAID = [
    "said",
    "told reporters",
    "said in a statement",
    "told local radio",
    "wrote on social media",
    "told a news conference",
    "confirmed",
]

# Sentence patterns: {p} a person, {p2} another, {r} a role, {pl} a place, {o} an organisation,
# {e} an event, {t} a thing, {x} an effect, {a} an adjective, {n} {m} numbers, {d} a day, {mo} a month.
LEADS = [
    "At least {n} [people|residents|passengers|workers] were {x} [after|when|as] {e}"
    " [struck|hit|swept through] {pl}"
    " [on|late on|early on] {d}, {o} {said}.",
    "{p}, the {r}, {said} [on|late on] {d} that {e} in {pl} [had been|was] {a} and that {n}"
    " [people|residents]"
    " [were|had been] {x}.",
    "[Authorities|Officials|Emergency services] in {pl} {said} {n} [residents|families|people] [had"
    " been|were]"
    " {x} as {e} [spread|moved|worsened] [across the region|through the city|overnight] [on|by] {d}.",
    "{e_cap} in {pl} has left {n} [people|households|families] {x}, according to [figures|data|an estimate]"
    " [released|published|issued] by {o} on {d}.",
]
# [a|b|c] picks one at each use, so two stories built from one pattern still read differently.
BODY = [
    "{p} {said} the {t} would be [reviewed|examined|overhauled|audited] [by the end of|before|in] {mo},"
    " [adding|warning|insisting] that the situation [remained|was still|looked] {a}.",
    "[Officials|Managers|Inspectors] [from|at] {o} said they had recognised the need to organise a {t}"
    " [within|in the next|over] {m} [days|weeks].",
    '"We are [doing everything we can|working around the clock|not giving up], but this is {a}," {p}'
    " [said|told reporters|added], [standing|speaking] [outside|near|at] the {t} in {pl}.",
    "{p2}, who [leads the opposition|chairs the regional council|heads a residents' group] in {pl},"
    " criticised the [government's|council's|ministry's] [handling|management|oversight] of the {t}.",
    "The {t} had been criticised for [months|years|some time], and a [report|review|study] [last|in] {mo}"
    " [warned|found|concluded] that it was {a}.",
    "[Local television|Footage on social media|Photographs] showed [crowds|people|families]"
    " [gathering|waiting]"
    " [near|outside|around] the {t}, where {n} volunteers had travelled to help.",
    "{o} said {m} of its [staff|engineers|workers|officers] had been [sent|deployed|flown] to {pl} and that"
    " a [second|further|larger] team would [follow|arrive] on {d}.",
    "The {r}, {p}, is [expected|due|scheduled] to visit {pl} on {d} to [meet families|meet survivors|talk"
    " to residents] and [inspect|tour|see] the {t}.",
    "[Residents|Shopkeepers|Parents] said the {t} had not been modernised in {m} years and [complained|were"
    " angry] about [its|the] behaviour [of officials|of managers|].",
    "[Figures|Data|Statistics] from {o} showed that {n} [cases|incidents|complaints] were [recorded|reported]"
    " in {mo}, [up|down] from {m} a year earlier.",
    "{p2} said the [response|reaction|recovery effort] had been {a} and called on {o} to prioritise the {t}.",
    "Neighbouring [districts|towns|provinces] have [offered|promised] to send [help|equipment|staff], and {m}"
    " [lorries|buses|vans] left {pl2} on {d} [morning|evening|night].",
    "The [government|cabinet|council] has [set aside|promised|approved] {n} million euros for the {t},"
    " a [figure|sum|plan] [critics|opponents|economists] called {a}.",
    "Speaking to [reporters|journalists|the press] in {pl}, {p} said it was too early to analyse what had"
    " [gone wrong|happened|caused the failure].",
    "Police said {m} [people|suspects|drivers] had been {x} and that the centre of {pl} would [stay"
    " closed|remain shut|be cordoned off] until {d}.",
    "{o} said it would publish a [full|detailed|public] account of {e} in {mo} and apologised for the"
    " [delay|confusion|disruption].",
    "[Independent|Outside|Academic] [experts|engineers|analysts] [said|estimated] the {t} would cost"
    " [about|roughly|more than] {n} million euros to [repair|replace|rebuild].",
    "[Schools|Offices|Markets] in {pl} will [remain shut|stay closed] until {d}, the {r} said, and"
    " [exams|meetings|elections] have been [postponed|moved|cancelled].",
    "The opposition has [demanded|called for] an [inquiry|investigation|independent review], saying the {t}"
    " was {a} and that [warnings|complaints|reports] [were ignored|went unheeded].",
    "[Earlier this year|Last year|In {mo}] {o} cut the budget of the {t} by {m} per cent, a decision"
    " {p2} [defended|justified|has refused to reverse].",
    '"[People deserve answers|We were never told|Nobody came to help]," said {p2}, whose [family|brother|'
    "neighbour] was among those {x} in {pl}.",
    "[Insurers|Analysts|Officials] [estimate|put] the [damage|losses|cost] at {n} million euros, the"
    " [highest|largest|worst] since [records began|comparable figures began] in {y}.",
    "The defence of the {t} fell to {o}, which said it had {m} [staff|officers|people] on duty that"
    " [night|day|weekend].",
    "A [spokesperson|spokesman|spokeswoman] for {o} [declined to comment|would not comment|did not respond]"
    " on the colour of the warnings [issued|sent] on {d}.",
    "[Union representatives|Staff|Workers] said the labour shortage at the {t} had been [raised|reported|"
    "flagged] {m} times [since {mo}|this year|in writing].",
    "Traffic [around|into|across] {pl} was [diverted|halted|slowed] for {m} hours while [crews|engineers|"
    "teams] worked through the night.",
    "The {t} will be the subject of a [parliamentary|council|public] hearing on {d}, [lawmakers|officials|"
    "councillors] said.",
    "Volunteers in {pl} set up a [kitchen|shelter|depot] that [served|handed out|delivered] {n}"
    " [meals|blankets|parcels] in its first {m} days.",
    "[Critics|Campaigners|Some residents] [questioned|challenged|doubted] why the {t} had been [approved|"
    "licensed|extended] in {y} [without a review|despite objections|at all].",
    "{p} [rejected|dismissed|denied] [suggestions|claims|reports] that {o} had [ignored|played down|missed]"
    " [the risks|early warnings|the problem], calling them {a}.",
    "[About|Nearly|More than] {n} [households|businesses|homes] in {pl2} were also {x}, [local media|a"
    " regional newspaper|the council] [reported|said].",
    "The [last|previous|most recent] [comparable|similar] [episode|crisis|incident], in {y}, [cost|took]"
    " [months|{m} weeks|two years] to [resolve|clear up|recover from].",
    "[Markets|Shares|Bond prices] in {pl} [fell|slipped|wavered] on {d} as [investors|traders] [weighed|"
    "assessed] the [impact|fallout|cost] of {e}.",
    "{o} [has asked|asked|urged] [anyone|residents|people] [with information|affected|who saw anything] to"
    " [call|contact|write to] its [hotline|office|website] [before|by] {d}.",
]
BACKGROUND = [
    "{p} became {r} in {y} after a campaign that [focused on|promised to fix] the {t} and the cost of"
    " living.",
    "{pl} has a population of about {n},000 and has [faced|suffered|seen] {e} [several"
    " times|twice|repeatedly]"
    " in the past [decade|twenty years].",
    "{o} was set up in {y} and has been led since {y2} by {p2}, a former [civil servant|engineer|diplomat].",
    "A similar crisis in {y} led to the resignation of the then {r} and a [review|reform|rebuild] of the"
    " {t}.",
    "[Critics|Opposition parties|Auditors] have long argued that the {t} in {pl} was [underfunded|badly"
    " run|neglected], a view {o} [rejected|disputes].",
]
INTROS = [
    "{outlet} has followed events in {pl} closely since the first reports emerged.",
    "Our correspondent in {pl} sent this report as the situation developed on {d}.",
    "This article is based on wire reports and on interviews conducted by {outlet} staff.",
    "Readers in {pl} have contacted {outlet} with their own accounts of what happened.",
]
HEADLINES = [
    "{n} {x} as {e} hits {pl}",
    "{p} under pressure over {t} in {pl}",
    "{pl}: {o_short} warns {t} is {a}",
    "{e_cap} in {pl} leaves {n} {x}",
]
RETITLES = [
    "{pl} latest: {e} leaves residents {x}",
    "What we know about {e} in {pl}",
    "{p} visits {pl} after {e}",
    "{o_short} faces questions over {t}",
    "{n} {x} in {pl}, officials say",
]
OUTLETS = ["The Courier", "Daily Ledger", "Metro Wire", "The Observer Post", "Radio Central", "Coastal News"]
BOILERPLATE = [
    "Advertisement",
    "Share this article",
    "Sign up for our morning newsletter",
    "Read more",
    "Follow us on social media",
]
FOOTERS = [
    "Reporting by {p}; editing by {p2}.",
    "Additional reporting by {p} in {pl}.",
    "{outlet} contributed to this report.",
]
BRITISH = {
    "organise": "organize",
    "recognised": "recognized",
    "criticised": "criticized",
    "defence": "defense",
    "defences": "defenses",
    "centre": "center",
    "programme": "program",
    "labour": "labor",
    "travelled": "traveled",
    "modernised": "modernized",
    "behaviour": "behavior",
    "analyse": "analyze",
    "prioritise": "prioritize",
    "neighbouring": "neighboring",
    "colour": "color",
    "licence": "license",
    "tyre": "tire",
    "mobilised": "mobilized",
    "apologised": "apologized",
    "harbour": "harbor",
}
FILLER = [
    "also",
    "then",
    "still",
    "however",
    "reportedly",
    "largely",
    "nearly",
    "officially",
    "recently",
    "already",
    "again",
    "further",
    "the",
    "a",
    "its",
    "their",
    "new",
    "local",
    "several",
    "other",
    "some",
    "many",
    "early",
    "late",
    "major",
    "key",
]
KINDS = (
    "edit5",
    "edit10",
    "edit15",
    "edit20",
    "truncate40",
    "truncate60",
    "intro",
    "reorder",
    "spelling",
    "numbers",
)


@dataclass(frozen=True)
class Story:
    """One story: its title and paragraphs, and what it is about."""

    number: int  # the original's number: copies keep it, hard negatives get their own
    title: str
    paragraphs: tuple[str, ...]
    people: tuple[str, str]
    place: str
    topic: str
    background: int  # the index of the background paragraph


class _Filler(dict[str, str]):
    """The slot values of one story; lists are drawn from afresh for every slot."""

    def __init__(self, rng: random.Random, people: tuple[str, str], place: str, topic: str) -> None:
        super().__init__()
        self.rng, self.people, self.place, self.topic = rng, people, place, topic
        self.role = rng.choice(ROLES)
        self.org = rng.choice(ORGS)

    def __missing__(self, key: str) -> str:
        rng, vocab = self.rng, TOPICS[self.topic]
        value = {
            "p": lambda: self.people[0],
            "p2": lambda: self.people[1],
            "r": lambda: self.role,
            "pl": lambda: self.place,
            "pl2": lambda: rng.choice(PLACES),
            "o": lambda: self.org,
            "o_short": lambda: self.org.removeprefix("the ").split(" of ")[-1],
            "e": lambda: rng.choice(vocab["event"]),
            "t": lambda: rng.choice(vocab["thing"]),
            "x": lambda: rng.choice(vocab["effect"]),
            "a": lambda: rng.choice(ADJECTIVES),
            "n": lambda: str(rng.randint(12, 4800)),
            "m": lambda: str(rng.randint(2, 90)),
            "y": lambda: str(rng.randint(1975, 2024)),
            "y2": lambda: str(rng.randint(2005, 2024)),
            "d": lambda: rng.choice(DAYS),
            "mo": lambda: rng.choice(MONTHS),
            "said": lambda: rng.choice(SAID),
            "outlet": lambda: rng.choice(OUTLETS),
        }.get(key.removesuffix("_cap"))
        if value is None:
            raise KeyError(key)
        text = value()
        return text[0].upper() + text[1:] if key.endswith("_cap") else text


_CHOICE = re.compile(r"\[([^\[\]]*)\]")


def _sentence(pattern: str, fill: _Filler) -> str:
    chosen = _CHOICE.sub(lambda m: fill.rng.choice(m.group(1).split("|")), pattern)
    text = " ".join(chosen.format_map(fill).split()).replace(" .", ".")
    return text[0].upper() + text[1:]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _paragraphs(rng: random.Random, fill: _Filler, count: int, lead: bool) -> list[str]:
    body = rng.sample(BODY, k=min(len(BODY), count * 2))
    out = []
    for i in range(count):
        sentences = [_sentence(rng.choice(LEADS), fill)] if lead and i == 0 else []
        while len(sentences) < rng.randint(1, 3):
            sentences.append(_sentence(body.pop() if body else rng.choice(BODY), fill))
        out.append(" ".join(sentences))
    return out


def story(
    number: int,
    rng: random.Random,
    people: tuple[str, str] | None = None,
    place: str | None = None,
    topic: str | None = None,
) -> Story:
    """A new story (people, place and topic drawn unless given)."""
    people = people or (_person(rng), _person(rng))
    place = place or rng.choice(PLACES)
    topic = topic or rng.choice(list(TOPICS))
    fill = _Filler(rng, people, place, topic)
    paragraphs = _paragraphs(rng, fill, rng.randint(5, 9), lead=True)
    background = rng.randint(2, len(paragraphs) - 1)
    paragraphs.insert(background, " ".join(_sentence(p, fill) for p in rng.sample(BACKGROUND, 2)))
    return Story(
        number, _sentence(rng.choice(HEADLINES), fill), tuple(paragraphs), people, place, topic, background
    )


def stories(n: int, seed: int = 11) -> list[Story]:
    """`n` different stories, seeded."""
    rng = random.Random(seed)
    return [story(i, rng) for i in range(n)]


def hard_negative(base: Story, number: int, rng: random.Random, same_headline: bool) -> Story:
    """Another story about the same people, topic and place, sharing `base`'s background paragraph
    (and its headline when `same_headline`)."""
    other = story(number, rng, base.people, base.place, base.topic)
    paragraphs = list(other.paragraphs)
    paragraphs[other.background] = base.paragraphs[base.background]
    return replace(other, title=base.title if same_headline else other.title, paragraphs=tuple(paragraphs))


_NUMBER = re.compile(r"\b\d+\b")


def copy(original: Story, kind: str, rng: random.Random) -> Story:
    """A syndicated copy of `original`, rewritten as `kind` says (see KINDS), with a new title."""
    fill = _Filler(rng, original.people, original.place, original.topic)
    paragraphs = list(original.paragraphs)
    if kind.startswith("edit"):
        paragraphs = _edited(paragraphs, int(kind.removeprefix("edit")) / 100, rng)
    elif kind.startswith("truncate"):
        share = int(kind.removeprefix("truncate")) / 100
        paragraphs = _rejoined(paragraphs, round(share * _count(paragraphs)))
    elif kind == "intro":
        paragraphs = [" ".join(_sentence(p, fill) for p in rng.sample(INTROS, 2)), *paragraphs]
    elif kind == "reorder":
        rng.shuffle(paragraphs)
    elif kind == "spelling":
        pattern = re.compile(r"\b(" + "|".join(BRITISH) + r")\b")
        paragraphs = [pattern.sub(lambda m: BRITISH[m.group(1)], p) for p in paragraphs]
    elif kind == "numbers":
        paragraphs = [_NUMBER.sub(lambda m: str(int(m.group()) + rng.randint(1, 9)), p) for p in paragraphs]
    else:
        raise ValueError(f"unknown copy kind {kind!r}")
    return replace(original, title=_sentence(rng.choice(RETITLES), fill), paragraphs=tuple(paragraphs))


def _count(paragraphs: list[str]) -> int:
    return sum(len(p.split()) for p in paragraphs)


def _rejoined(paragraphs: list[str], words: int) -> list[str]:
    """The first `words` words of `paragraphs`, paragraph breaks kept."""
    out, left = [], words
    for paragraph in paragraphs:
        tokens = paragraph.split()
        if left <= 0:
            break
        out.append(" ".join(tokens[:left]))
        left -= len(tokens)
    return out


def _edited(paragraphs: list[str], share: float, rng: random.Random) -> list[str]:
    """`share` of the words edited, scattered: most replaced by another word, some dropped, some
    with a word inserted after them."""
    tokens = [(p, w) for p, paragraph in enumerate(paragraphs) for w in range(len(paragraph.split()))]
    split = [paragraph.split() for paragraph in paragraphs]
    for p, w in rng.sample(tokens, int(len(tokens) * share)):
        roll = rng.random()
        if roll < 0.6:
            split[p][w] = rng.choice(FILLER)
        elif roll < 0.8:
            split[p][w] = ""
        else:
            split[p][w] = f"{split[p][w]} {rng.choice(FILLER)}"
    return [" ".join(t for t in words if t) for words in split]


def to_html(item: Story, rng: random.Random) -> str:
    """The story as one outlet's page body: its own markup, boilerplate lines and footer."""
    fill = _Filler(rng, (_person(rng), _person(rng)), item.place, item.topic)
    tag = rng.choice(["p", "div"])
    parts = [f"<{tag}>{p}</{tag}>" for p in item.paragraphs]
    for line in rng.sample(BOILERPLATE, rng.randint(0, 2)):
        parts.insert(rng.randint(1, len(parts)), f"<p>{line}</p>")
    if rng.random() < 0.5:
        parts.append(f"<p><em>{_sentence(rng.choice(FOOTERS), fill)}</em></p>")
    wrapper = rng.choice(['<article class="story">{}</article>', '<div id="content">{}</div>', "{}"])
    return wrapper.format("\n".join(parts))
