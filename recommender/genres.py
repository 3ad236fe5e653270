"""Genre families, language pools and the not-music rules the catalog build applies.

Families
--------
The two source datasets carry ~140 raw genre names: 6 playlist genres and 24 subgenres in
`spotify_songs.csv`, and 114 search buckets in `spotify_tracks_114k.csv`. People think in a
handful of families, so every raw genre maps to one (`FAMILY_OF_GENRE`); a track tagged with
several takes the family most of its tags name, ties going to the more specific family
(`SPECIFICITY`: regional families first, pop last). Where the track's language pool is
confirmed (below), the pool's family wins: a BTS song found under "dance" is still k-pop.

Buckets are search results, not curated genres, and some names mislead: "happy" is happy
hardcore (electronic), "sad" is lo-fi and emo rap (hip-hop), "romance" is Russian romance songs,
"study" is lo-fi beats (ambient), "garage" is mostly garage rock, "world-music" is mostly
worship songs.

Language pools
--------------
Regional genres name a language or region (`POOL_OF_GENRE`). The buckets leak, though: about
half of "k-pop" is Tamil and Hindi film music, "j-dance" is mostly Jamaican dancehall and
"malay" is mostly Malayalam (so it names no pool). A pool is therefore confirmed per *artist*:

1. every (track, raw genre) pair is one vote, for that genre's pool or for "no pool";
2. an artist's home pool is the pool with most of their votes, if it has at least
   POOL_MAJORITY (90%) of their pool votes and at least as many as "no pool" (an Indian film
   singer found 64 times under "k-pop" and 29 under "pop-film" has no home, nor has a rapper
   found 47 times under "k-pop" and 62 under "hip-hop"; BTS, with one Latin remix among 155
   k-pop tracks, is k-pop);
3. for "ja", the artist must also write in Japanese script somewhere (name, a title or an
   album), which keeps out the jazz and dancehall the Japanese buckets return;
4. a track's pool is its main artist's home, unless another credited artist has another home.

Listeners reach a pool through their Telegram `language_code` (`pool_for_language`).

Not music
---------
`not_music` names the rule a track breaks, if any: a non-music genre tag (comedy, children,
kids); spoken word (speechiness >= 0.66, Spotify's own "probably entirely spoken" line, which
also takes a few dozen very talky rap tracks); children's records by name (artist or album:
nursery rhymes, Kidz Bop, CoComelon, baby-sleep series, ...); and noise. Noise is a name only
noise records carry ("white noise", "rain sounds", "432 Hz", "binaural", ...; title, artist
or album), or a name that merely suggests it ("noise", "thunderstorm", "heartbeat", ...) on a
track Spotify hears as joyless and beatless (valence <= 0.2, danceability <= 0.5), or
valence and danceability both exactly 0. The feature guard keeps songs called "Thunder" or
"Heartbeat". The catalog build then also drops the other tracks of an artist at least half of
whose tracks (and at least two) are noise: sound-effect artists give bland titles too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Family:
    """A genre family people recognise; `id` is short and safe in button data."""

    id: str
    label: str


# In the order a menu would offer them.
FAMILIES: tuple[Family, ...] = (
    Family("pop", "Pop"),
    Family("rock", "Rock"),
    Family("hip-hop", "Hip-hop"),
    Family("r&b", "R&B / soul / funk"),
    Family("electronic", "Electronic / dance"),
    Family("latin", "Latin"),
    Family("brazilian", "Brazilian"),
    Family("k-pop", "K-pop"),
    Family("j-pop", "J-pop / anime"),
    Family("c-pop", "C-pop"),
    Family("jazz", "Jazz / blues"),
    Family("classical", "Classical / piano"),
    Family("acoustic", "Acoustic / folk"),
    Family("ambient", "Ambient / chill / lo-fi"),
    Family("metal", "Metal"),
    Family("country", "Country"),
    Family("reggae", "Reggae / dancehall"),
    Family("soundtrack", "Soundtracks / musicals"),
    Family("world", "World"),
)
FAMILY_IDS: tuple[str, ...] = tuple(f.id for f in FAMILIES)
# Ties between a track's tags go to the earlier, more specific family here; pop comes last.
SPECIFICITY: tuple[str, ...] = (
    "k-pop", "j-pop", "c-pop", "latin", "brazilian", "classical", "jazz", "metal", "country",
    "reggae", "soundtrack", "acoustic", "ambient", "r&b", "hip-hop", "electronic", "rock",
    "world", "pop",
)  # fmt: skip

_GROUPS: dict[str, str] = {
    "pop": "pop, dance pop, post-teen pop, electropop, indie poptimism, power-pop, synth-pop, "
    "indie-pop, british, swedish, german, french, party",
    "rock": "rock, album rock, classic rock, permanent wave, hard rock, hard-rock, alt-rock, "
    "alternative, indie, grunge, psych-rock, punk, punk-rock, rock-n-roll, rockabilly, garage, "
    "goth, ska",
    "metal": "metal, heavy-metal, black-metal, death-metal, metalcore, grindcore, hardcore, "
    "industrial",
    "hip-hop": "rap, hip-hop, hip hop, southern hip hop, gangster rap, trap, hip pop, sad, emo",
    "r&b": "r&b, r-n-b, urban contemporary, new jack swing, neo soul, soul, funk, gospel, disco",
    "electronic": "edm, electro house, big room, pop edm, progressive electro house, electro, "
    "electronic, house, deep-house, chicago-house, progressive-house, detroit-techno, techno, "
    "minimal-techno, trance, drum-and-bass, dubstep, dub, breakbeat, club, dance, groove, "
    "hardstyle, happy, idm, trip-hop",
    "latin": "latin, latino, reggaeton, salsa, tango, spanish, latin pop, tropical, latin hip hop",
    "brazilian": "brazil, mpb, pagode, samba, sertanejo, forro",
    "k-pop": "k-pop",
    "j-pop": "j-pop, j-rock, j-idol, j-dance, anime",
    "c-pop": "cantopop, mandopop",
    "jazz": "jazz, blues",
    "classical": "classical, opera, piano",
    "acoustic": "acoustic, folk, singer-songwriter, songwriter, guitar",
    "ambient": "ambient, chill, new-age, sleep, study",
    "country": "country, honky-tonk, bluegrass",
    "reggae": "reggae, dancehall",
    "world": "afrobeat, indian, pop-film, iranian, malay, turkish, romance, world-music",
    "soundtrack": "disney, show-tunes",
}
FAMILY_OF_GENRE: dict[str, str] = {
    genre.strip(): family for family, names in _GROUPS.items() for genre in names.split(",")
}

# Genres that are not music for this product; tracks carrying any of them are dropped.
NON_MUSIC_GENRES: frozenset[str] = frozenset({"comedy", "children", "kids"})

# Language/region pools named by the genre. Codes are ISO 639-1 languages; "hi" stands for
# Indian film and pop music in all its languages.
_POOLS: dict[str, str] = {
    "ko": "k-pop",
    "ja": "j-pop, j-rock, j-idol, j-dance, anime",
    "zh": "cantopop, mandopop",
    "es": "spanish, latin, latino, reggaeton, salsa, tango, latin pop, tropical, latin hip hop",
    "pt": "brazil, mpb, pagode, samba, sertanejo, forro",
    "fr": "french",
    "de": "german",
    "sv": "swedish",
    "tr": "turkish",
    "hi": "indian, pop-film",
    "fa": "iranian",
    "ru": "romance",
}
POOL_OF_GENRE: dict[str, str] = {
    genre.strip(): pool for pool, names in _POOLS.items() for genre in names.split(",")
}
# A confirmed pool decides the family for these; the other pools keep the style family.
FAMILY_OF_POOL: dict[str, str] = {
    "ko": "k-pop",
    "ja": "j-pop",
    "zh": "c-pop",
    "es": "latin",
    "pt": "brazilian",
}
POOLS: tuple[str, ...] = tuple(_POOLS)
# Telegram language codes that reach a pool other than their own code.
_LANGUAGE_ALIASES: dict[str, str] = {
    code: "hi" for code in ("ta", "te", "ml", "kn", "bn", "mr", "pa", "gu", "ur")
}

POOL_MAJORITY = 0.9
JAPANESE_SCRIPT = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

SPOKEN_WORD_SPEECHINESS = 0.66
NOISE_MAX_VALENCE = 0.2
NOISE_MAX_DANCEABILITY = 0.5
# Names that only noise and sound-effect records carry.
_NOISE_NAME = re.compile(
    r"\b(white|brown|pink|gr[ae]y) noise\b|ruido (blanco|rosa)|wei(ß|ss)es rauschen"
    r"|\b(rain|ocean|sea|nature|water|waterfall|forest|jungle|birds?|wind|storm|thunder"
    r"|fireplace|river|stream|creek|sleep|fan|womb|spa|baby|noise) sounds\b"
    r"|\bsounds? of (the )?(rain|ocean|sea|nature|waves|forest|jungle|thunder)|ocean waves"
    r"|sonidos? (de|del) (la |el )?(lluvia|naturaleza|fondo|mar|viento|agua)|gotas de agua"
    r"|meeresrauschen|binaural|solfeggio|\b\d+ ?hz\b|\basmr\b|loopable|\(no music\)"
    r"|\bvacuum cleaner|hair ?dryer|box fan|air conditioners?\b|womb sounds|fireplace"
    r"|\bsounds for (deep )?(sleep|relaxation|meditation|studying|babies)",
    re.IGNORECASE,
)
# Names that suggest noise; they count only on a joyless, beatless track (see module doc).
_NOISY_NAME = re.compile(
    r"\bnoise\b|rauschen|ger[äa]usch|\b(rain|ocean|sea|nature|water|sleep|fan) sound\b"
    r"|\bsonidos?\b|\bsons de\b|\bljud\b|\blluvia\b|sea waves|thunder ?storms?|\brain for\b"
    r"|\b(heavy|light|gentle|soft|forest|summer|tropical|night) rain\b|\brain (and|&) thunder"
    r"|\brainfall\b|\bvacuum|\bvacum|\bwomb\b|heartbeat",
    re.IGNORECASE,
)
_CHILDREN_NAME = re.compile(
    r"nursery rhymes?|\bfor (kids|children|babies|toddlers)\b|\bbaby (sleep|lullab\w*|music)\b"
    r"|lullabies for (babies|kids|children|bedtime)|kidz bop|cocomelon|pinkfong|peppa pig"
    r"|super simple songs|the wiggles|little baby bum|canciones infantiles|kinderlieder"
    r"|chansons? pour enfants|\bcaillou\b|mini pop kids|\btoddler",
    re.IGNORECASE,
)


def family_of(genres: list[str] | tuple[str, ...]) -> str:
    """The family most of these raw genres name (ties: earlier in FAMILIES), or ""."""
    votes: dict[str, int] = {}
    for genre in genres:
        family = FAMILY_OF_GENRE.get(genre)
        if family:
            votes[family] = votes.get(family, 0) + 1
    if not votes:
        return ""
    return min(votes, key=lambda f: (-votes[f], SPECIFICITY.index(f)))


def not_music(
    genres: list[str] | tuple[str, ...],
    title: str,
    artists: str,
    album: str,
    valence: float,
    danceability: float,
    speechiness: float,
) -> str | None:
    """The rule a track breaks if it is not music for this product (see module doc), else None."""
    if NON_MUSIC_GENRES.intersection(genres):
        return "non_music_genre"
    if speechiness >= SPOKEN_WORD_SPEECHINESS:
        return "spoken_word"
    if _CHILDREN_NAME.search(f"{artists} | {album}"):
        return "children_name"
    names = f"{title} | {artists} | {album}"
    if (valence == 0 and danceability == 0) or _NOISE_NAME.search(names):
        return "noise"
    joyless = valence <= NOISE_MAX_VALENCE and danceability <= NOISE_MAX_DANCEABILITY
    if joyless and _NOISY_NAME.search(names):
        return "noise"
    return None


def pool_for_language(code: str | None) -> str | None:
    """The pool a Telegram `language_code` (e.g. "ko", "pt-br", "zh-hans") reaches, or None."""
    if not code:
        return None
    primary = code.strip().lower().replace("_", "-").split("-")[0]
    primary = _LANGUAGE_ALIASES.get(primary, primary)
    return primary if primary in _POOLS else None


def family_label(family_id: str) -> str:
    """Display label of a family id (the id itself if unknown)."""
    return next((f.label for f in FAMILIES if f.id == family_id), family_id)
