"""ISO 3166-1 countries and US/Canadian subdivisions, for looking up free-text input.

Data only, plus lookups keyed on the letters (and digits) of the input, lowercased: spaces and
punctuation are ignored, so `U.S.`, `us` and `United  States` share a key. Accented names also
match their unaccented spelling (`Cote d'Ivoire`). The tables were generated once from
pycountry 26.2.16 (ISO 3166-1, ISO 3166-2:US, ISO 3166-2:CA); nothing here imports pycountry.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Final

__all__ = [
    "CA_PROVINCES",
    "COUNTRIES",
    "COUNTRY_ALIASES",
    "US_STATES",
    "country_code",
    "lookup_key",
]

# (alpha-2, alpha-3, ISO short name, official name, common name), lowercase codes.
COUNTRIES: Final[tuple[tuple[str, str, str, str | None, str | None], ...]] = (
    ("ad", "and", "Andorra", "Principality of Andorra", None),
    ("ae", "are", "United Arab Emirates", None, None),
    ("af", "afg", "Afghanistan", "Islamic Republic of Afghanistan", None),
    ("ag", "atg", "Antigua and Barbuda", None, None),
    ("ai", "aia", "Anguilla", None, None),
    ("al", "alb", "Albania", "Republic of Albania", None),
    ("am", "arm", "Armenia", "Republic of Armenia", None),
    ("ao", "ago", "Angola", "Republic of Angola", None),
    ("aq", "ata", "Antarctica", None, None),
    ("ar", "arg", "Argentina", "Argentine Republic", None),
    ("as", "asm", "American Samoa", None, None),
    ("at", "aut", "Austria", "Republic of Austria", None),
    ("au", "aus", "Australia", None, None),
    ("aw", "abw", "Aruba", None, None),
    ("ax", "ala", "Åland Islands", None, None),
    ("az", "aze", "Azerbaijan", "Republic of Azerbaijan", None),
    ("ba", "bih", "Bosnia and Herzegovina", "Republic of Bosnia and Herzegovina", None),
    ("bb", "brb", "Barbados", None, None),
    ("bd", "bgd", "Bangladesh", "People's Republic of Bangladesh", None),
    ("be", "bel", "Belgium", "Kingdom of Belgium", None),
    ("bf", "bfa", "Burkina Faso", None, None),
    ("bg", "bgr", "Bulgaria", "Republic of Bulgaria", None),
    ("bh", "bhr", "Bahrain", "Kingdom of Bahrain", None),
    ("bi", "bdi", "Burundi", "Republic of Burundi", None),
    ("bj", "ben", "Benin", "Republic of Benin", None),
    ("bl", "blm", "Saint Barthélemy", None, None),
    ("bm", "bmu", "Bermuda", None, None),
    ("bn", "brn", "Brunei Darussalam", None, None),
    ("bo", "bol", "Bolivia, Plurinational State of", "Plurinational State of Bolivia", "Bolivia"),
    ("bq", "bes", "Bonaire, Sint Eustatius and Saba", "Bonaire, Sint Eustatius and Saba", None),
    ("br", "bra", "Brazil", "Federative Republic of Brazil", None),
    ("bs", "bhs", "Bahamas", "Commonwealth of the Bahamas", None),
    ("bt", "btn", "Bhutan", "Kingdom of Bhutan", None),
    ("bv", "bvt", "Bouvet Island", None, None),
    ("bw", "bwa", "Botswana", "Republic of Botswana", None),
    ("by", "blr", "Belarus", "Republic of Belarus", None),
    ("bz", "blz", "Belize", None, None),
    ("ca", "can", "Canada", None, None),
    ("cc", "cck", "Cocos (Keeling) Islands", None, None),
    ("cd", "cod", "Congo, The Democratic Republic of the", None, None),
    ("cf", "caf", "Central African Republic", None, None),
    ("cg", "cog", "Congo", "Republic of the Congo", None),
    ("ch", "che", "Switzerland", "Swiss Confederation", None),
    ("ci", "civ", "Côte d'Ivoire", "Republic of Côte d'Ivoire", None),
    ("ck", "cok", "Cook Islands", None, None),
    ("cl", "chl", "Chile", "Republic of Chile", None),
    ("cm", "cmr", "Cameroon", "Republic of Cameroon", None),
    ("cn", "chn", "China", "People's Republic of China", None),
    ("co", "col", "Colombia", "Republic of Colombia", None),
    ("cr", "cri", "Costa Rica", "Republic of Costa Rica", None),
    ("cu", "cub", "Cuba", "Republic of Cuba", None),
    ("cv", "cpv", "Cabo Verde", "Republic of Cabo Verde", None),
    ("cw", "cuw", "Curaçao", "Curaçao", None),
    ("cx", "cxr", "Christmas Island", None, None),
    ("cy", "cyp", "Cyprus", "Republic of Cyprus", None),
    ("cz", "cze", "Czechia", "Czech Republic", None),
    ("de", "deu", "Germany", "Federal Republic of Germany", None),
    ("dj", "dji", "Djibouti", "Republic of Djibouti", None),
    ("dk", "dnk", "Denmark", "Kingdom of Denmark", None),
    ("dm", "dma", "Dominica", "Commonwealth of Dominica", None),
    ("do", "dom", "Dominican Republic", None, None),
    ("dz", "dza", "Algeria", "People's Democratic Republic of Algeria", None),
    ("ec", "ecu", "Ecuador", "Republic of Ecuador", None),
    ("ee", "est", "Estonia", "Republic of Estonia", None),
    ("eg", "egy", "Egypt", "Arab Republic of Egypt", None),
    ("eh", "esh", "Western Sahara", None, None),
    ("er", "eri", "Eritrea", "the State of Eritrea", None),
    ("es", "esp", "Spain", "Kingdom of Spain", None),
    ("et", "eth", "Ethiopia", "Federal Democratic Republic of Ethiopia", None),
    ("fi", "fin", "Finland", "Republic of Finland", None),
    ("fj", "fji", "Fiji", "Republic of Fiji", None),
    ("fk", "flk", "Falkland Islands (Malvinas)", None, None),
    ("fm", "fsm", "Micronesia, Federated States of", "Federated States of Micronesia", None),
    ("fo", "fro", "Faroe Islands", None, None),
    ("fr", "fra", "France", "French Republic", None),
    ("ga", "gab", "Gabon", "Gabonese Republic", None),
    ("gb", "gbr", "United Kingdom", "United Kingdom of Great Britain and Northern Ireland", None),
    ("gd", "grd", "Grenada", None, None),
    ("ge", "geo", "Georgia", None, None),
    ("gf", "guf", "French Guiana", None, None),
    ("gg", "ggy", "Guernsey", None, None),
    ("gh", "gha", "Ghana", "Republic of Ghana", None),
    ("gi", "gib", "Gibraltar", None, None),
    ("gl", "grl", "Greenland", None, None),
    ("gm", "gmb", "Gambia", "Republic of the Gambia", None),
    ("gn", "gin", "Guinea", "Republic of Guinea", None),
    ("gp", "glp", "Guadeloupe", None, None),
    ("gq", "gnq", "Equatorial Guinea", "Republic of Equatorial Guinea", None),
    ("gr", "grc", "Greece", "Hellenic Republic", None),
    ("gs", "sgs", "South Georgia and the South Sandwich Islands", None, None),
    ("gt", "gtm", "Guatemala", "Republic of Guatemala", None),
    ("gu", "gum", "Guam", None, None),
    ("gw", "gnb", "Guinea-Bissau", "Republic of Guinea-Bissau", None),
    ("gy", "guy", "Guyana", "Republic of Guyana", None),
    ("hk", "hkg", "Hong Kong", "Hong Kong Special Administrative Region of China", None),
    ("hm", "hmd", "Heard Island and McDonald Islands", None, None),
    ("hn", "hnd", "Honduras", "Republic of Honduras", None),
    ("hr", "hrv", "Croatia", "Republic of Croatia", None),
    ("ht", "hti", "Haiti", "Republic of Haiti", None),
    ("hu", "hun", "Hungary", "Hungary", None),
    ("id", "idn", "Indonesia", "Republic of Indonesia", None),
    ("ie", "irl", "Ireland", None, None),
    ("il", "isr", "Israel", "State of Israel", None),
    ("im", "imn", "Isle of Man", None, None),
    ("in", "ind", "India", "Republic of India", None),
    ("io", "iot", "British Indian Ocean Territory", None, None),
    ("iq", "irq", "Iraq", "Republic of Iraq", None),
    ("ir", "irn", "Iran, Islamic Republic of", "Islamic Republic of Iran", "Iran"),
    ("is", "isl", "Iceland", "Republic of Iceland", None),
    ("it", "ita", "Italy", "Italian Republic", None),
    ("je", "jey", "Jersey", None, None),
    ("jm", "jam", "Jamaica", None, None),
    ("jo", "jor", "Jordan", "Hashemite Kingdom of Jordan", None),
    ("jp", "jpn", "Japan", None, None),
    ("ke", "ken", "Kenya", "Republic of Kenya", None),
    ("kg", "kgz", "Kyrgyzstan", "Kyrgyz Republic", None),
    ("kh", "khm", "Cambodia", "Kingdom of Cambodia", None),
    ("ki", "kir", "Kiribati", "Republic of Kiribati", None),
    ("km", "com", "Comoros", "Union of the Comoros", None),
    ("kn", "kna", "Saint Kitts and Nevis", None, None),
    (
        "kp",
        "prk",
        "Korea, Democratic People's Republic of",
        "Democratic People's Republic of Korea",
        "North Korea",
    ),
    ("kr", "kor", "Korea, Republic of", None, "South Korea"),
    ("kw", "kwt", "Kuwait", "State of Kuwait", None),
    ("ky", "cym", "Cayman Islands", None, None),
    ("kz", "kaz", "Kazakhstan", "Republic of Kazakhstan", None),
    ("la", "lao", "Lao People's Democratic Republic", None, "Laos"),
    ("lb", "lbn", "Lebanon", "Lebanese Republic", None),
    ("lc", "lca", "Saint Lucia", None, None),
    ("li", "lie", "Liechtenstein", "Principality of Liechtenstein", None),
    ("lk", "lka", "Sri Lanka", "Democratic Socialist Republic of Sri Lanka", None),
    ("lr", "lbr", "Liberia", "Republic of Liberia", None),
    ("ls", "lso", "Lesotho", "Kingdom of Lesotho", None),
    ("lt", "ltu", "Lithuania", "Republic of Lithuania", None),
    ("lu", "lux", "Luxembourg", "Grand Duchy of Luxembourg", None),
    ("lv", "lva", "Latvia", "Republic of Latvia", None),
    ("ly", "lby", "Libya", "Libya", None),
    ("ma", "mar", "Morocco", "Kingdom of Morocco", None),
    ("mc", "mco", "Monaco", "Principality of Monaco", None),
    ("md", "mda", "Moldova, Republic of", "Republic of Moldova", "Moldova"),
    ("me", "mne", "Montenegro", "Montenegro", None),
    ("mf", "maf", "Saint Martin (French part)", None, None),
    ("mg", "mdg", "Madagascar", "Republic of Madagascar", None),
    ("mh", "mhl", "Marshall Islands", "Republic of the Marshall Islands", None),
    ("mk", "mkd", "North Macedonia", "Republic of North Macedonia", None),
    ("ml", "mli", "Mali", "Republic of Mali", None),
    ("mm", "mmr", "Myanmar", "Republic of Myanmar", None),
    ("mn", "mng", "Mongolia", None, None),
    ("mo", "mac", "Macao", "Macao Special Administrative Region of China", None),
    ("mp", "mnp", "Northern Mariana Islands", "Commonwealth of the Northern Mariana Islands", None),
    ("mq", "mtq", "Martinique", None, None),
    ("mr", "mrt", "Mauritania", "Islamic Republic of Mauritania", None),
    ("ms", "msr", "Montserrat", None, None),
    ("mt", "mlt", "Malta", "Republic of Malta", None),
    ("mu", "mus", "Mauritius", "Republic of Mauritius", None),
    ("mv", "mdv", "Maldives", "Republic of Maldives", None),
    ("mw", "mwi", "Malawi", "Republic of Malawi", None),
    ("mx", "mex", "Mexico", "United Mexican States", None),
    ("my", "mys", "Malaysia", None, None),
    ("mz", "moz", "Mozambique", "Republic of Mozambique", None),
    ("na", "nam", "Namibia", "Republic of Namibia", None),
    ("nc", "ncl", "New Caledonia", None, None),
    ("ne", "ner", "Niger", "Republic of the Niger", None),
    ("nf", "nfk", "Norfolk Island", None, None),
    ("ng", "nga", "Nigeria", "Federal Republic of Nigeria", None),
    ("ni", "nic", "Nicaragua", "Republic of Nicaragua", None),
    ("nl", "nld", "Netherlands", "Kingdom of the Netherlands", None),
    ("no", "nor", "Norway", "Kingdom of Norway", None),
    ("np", "npl", "Nepal", "Federal Democratic Republic of Nepal", None),
    ("nr", "nru", "Nauru", "Republic of Nauru", None),
    ("nu", "niu", "Niue", "Niue", None),
    ("nz", "nzl", "New Zealand", None, None),
    ("om", "omn", "Oman", "Sultanate of Oman", None),
    ("pa", "pan", "Panama", "Republic of Panama", None),
    ("pe", "per", "Peru", "Republic of Peru", None),
    ("pf", "pyf", "French Polynesia", None, None),
    ("pg", "png", "Papua New Guinea", "Independent State of Papua New Guinea", None),
    ("ph", "phl", "Philippines", "Republic of the Philippines", None),
    ("pk", "pak", "Pakistan", "Islamic Republic of Pakistan", None),
    ("pl", "pol", "Poland", "Republic of Poland", None),
    ("pm", "spm", "Saint Pierre and Miquelon", None, None),
    ("pn", "pcn", "Pitcairn", None, None),
    ("pr", "pri", "Puerto Rico", None, None),
    ("ps", "pse", "Palestine, State of", "the State of Palestine", None),
    ("pt", "prt", "Portugal", "Portuguese Republic", None),
    ("pw", "plw", "Palau", "Republic of Palau", None),
    ("py", "pry", "Paraguay", "Republic of Paraguay", None),
    ("qa", "qat", "Qatar", "State of Qatar", None),
    ("re", "reu", "Réunion", None, None),
    ("ro", "rou", "Romania", None, None),
    ("rs", "srb", "Serbia", "Republic of Serbia", None),
    ("ru", "rus", "Russian Federation", None, None),
    ("rw", "rwa", "Rwanda", "Rwandese Republic", None),
    ("sa", "sau", "Saudi Arabia", "Kingdom of Saudi Arabia", None),
    ("sb", "slb", "Solomon Islands", None, None),
    ("sc", "syc", "Seychelles", "Republic of Seychelles", None),
    ("sd", "sdn", "Sudan", "Republic of the Sudan", None),
    ("se", "swe", "Sweden", "Kingdom of Sweden", None),
    ("sg", "sgp", "Singapore", "Republic of Singapore", None),
    ("sh", "shn", "Saint Helena, Ascension and Tristan da Cunha", None, None),
    ("si", "svn", "Slovenia", "Republic of Slovenia", None),
    ("sj", "sjm", "Svalbard and Jan Mayen", None, None),
    ("sk", "svk", "Slovakia", "Slovak Republic", None),
    ("sl", "sle", "Sierra Leone", "Republic of Sierra Leone", None),
    ("sm", "smr", "San Marino", "Republic of San Marino", None),
    ("sn", "sen", "Senegal", "Republic of Senegal", None),
    ("so", "som", "Somalia", "Federal Republic of Somalia", None),
    ("sr", "sur", "Suriname", "Republic of Suriname", None),
    ("ss", "ssd", "South Sudan", "Republic of South Sudan", None),
    ("st", "stp", "Sao Tome and Principe", "Democratic Republic of Sao Tome and Principe", None),
    ("sv", "slv", "El Salvador", "Republic of El Salvador", None),
    ("sx", "sxm", "Sint Maarten (Dutch part)", "Sint Maarten (Dutch part)", None),
    ("sy", "syr", "Syrian Arab Republic", None, "Syria"),
    ("sz", "swz", "Eswatini", "Kingdom of Eswatini", None),
    ("tc", "tca", "Turks and Caicos Islands", None, None),
    ("td", "tcd", "Chad", "Republic of Chad", None),
    ("tf", "atf", "French Southern Territories", None, None),
    ("tg", "tgo", "Togo", "Togolese Republic", None),
    ("th", "tha", "Thailand", "Kingdom of Thailand", None),
    ("tj", "tjk", "Tajikistan", "Republic of Tajikistan", None),
    ("tk", "tkl", "Tokelau", None, None),
    ("tl", "tls", "Timor-Leste", "Democratic Republic of Timor-Leste", None),
    ("tm", "tkm", "Turkmenistan", None, None),
    ("tn", "tun", "Tunisia", "Republic of Tunisia", None),
    ("to", "ton", "Tonga", "Kingdom of Tonga", None),
    ("tr", "tur", "Türkiye", "Republic of Türkiye", None),
    ("tt", "tto", "Trinidad and Tobago", "Republic of Trinidad and Tobago", None),
    ("tv", "tuv", "Tuvalu", None, None),
    ("tw", "twn", "Taiwan, Province of China", "Taiwan, Province of China", "Taiwan"),
    ("tz", "tza", "Tanzania, United Republic of", "United Republic of Tanzania", "Tanzania"),
    ("ua", "ukr", "Ukraine", None, None),
    ("ug", "uga", "Uganda", "Republic of Uganda", None),
    ("um", "umi", "United States Minor Outlying Islands", None, None),
    ("us", "usa", "United States", "United States of America", None),
    ("uy", "ury", "Uruguay", "Eastern Republic of Uruguay", None),
    ("uz", "uzb", "Uzbekistan", "Republic of Uzbekistan", None),
    ("va", "vat", "Holy See (Vatican City State)", None, None),
    ("vc", "vct", "Saint Vincent and the Grenadines", None, None),
    (
        "ve",
        "ven",
        "Venezuela, Bolivarian Republic of",
        "Bolivarian Republic of Venezuela",
        "Venezuela",
    ),
    ("vg", "vgb", "Virgin Islands, British", "British Virgin Islands", None),
    ("vi", "vir", "Virgin Islands, U.S.", "Virgin Islands of the United States", None),
    ("vn", "vnm", "Viet Nam", "Socialist Republic of Viet Nam", "Vietnam"),
    ("vu", "vut", "Vanuatu", "Republic of Vanuatu", None),
    ("wf", "wlf", "Wallis and Futuna", None, None),
    ("ws", "wsm", "Samoa", "Independent State of Samoa", None),
    ("ye", "yem", "Yemen", "Republic of Yemen", None),
    ("yt", "myt", "Mayotte", None, None),
    ("za", "zaf", "South Africa", "Republic of South Africa", None),
    ("zm", "zmb", "Zambia", "Republic of Zambia", None),
    ("zw", "zwe", "Zimbabwe", "Republic of Zimbabwe", None),
)

# Extra names the normalization policy accepts for a country (keys as `lookup_key` makes them).
COUNTRY_ALIASES: Final[Mapping[str, str]] = {
    "uk": "gb",
    "greatbritain": "gb",
    "england": "gb",
    "usa": "us",
    "unitedstatesamerica": "us",
}

# ISO 3166-2 names of US states, the District and the outlying areas, with their codes.
_US_STATE_NAMES: Final[tuple[tuple[str, str], ...]] = (
    ("Alaska", "ak"),
    ("Alabama", "al"),
    ("Arkansas", "ar"),
    ("American Samoa", "as"),
    ("Arizona", "az"),
    ("California", "ca"),
    ("Colorado", "co"),
    ("Connecticut", "ct"),
    ("District of Columbia", "dc"),
    ("Delaware", "de"),
    ("Florida", "fl"),
    ("Georgia", "ga"),
    ("Guam", "gu"),
    ("Hawaii", "hi"),
    ("Iowa", "ia"),
    ("Idaho", "id"),
    ("Illinois", "il"),
    ("Indiana", "in"),
    ("Kansas", "ks"),
    ("Kentucky", "ky"),
    ("Louisiana", "la"),
    ("Massachusetts", "ma"),
    ("Maryland", "md"),
    ("Maine", "me"),
    ("Michigan", "mi"),
    ("Minnesota", "mn"),
    ("Missouri", "mo"),
    ("Northern Mariana Islands", "mp"),
    ("Mississippi", "ms"),
    ("Montana", "mt"),
    ("North Carolina", "nc"),
    ("North Dakota", "nd"),
    ("Nebraska", "ne"),
    ("New Hampshire", "nh"),
    ("New Jersey", "nj"),
    ("New Mexico", "nm"),
    ("Nevada", "nv"),
    ("New York", "ny"),
    ("Ohio", "oh"),
    ("Oklahoma", "ok"),
    ("Oregon", "or"),
    ("Pennsylvania", "pa"),
    ("Puerto Rico", "pr"),
    ("Rhode Island", "ri"),
    ("South Carolina", "sc"),
    ("South Dakota", "sd"),
    ("Tennessee", "tn"),
    ("Texas", "tx"),
    ("United States Minor Outlying Islands", "um"),
    ("Utah", "ut"),
    ("Virginia", "va"),
    ("Virgin Islands, U.S.", "vi"),
    ("Vermont", "vt"),
    ("Washington", "wa"),
    ("Wisconsin", "wi"),
    ("West Virginia", "wv"),
    ("Wyoming", "wy"),
    ("U.S. Virgin Islands", "vi"),  # common name, added by hand
)

# ISO 3166-2 names of Canadian provinces and territories, with their codes.
_CA_PROVINCE_NAMES: Final[tuple[tuple[str, str], ...]] = (
    ("Alberta", "ab"),
    ("British Columbia", "bc"),
    ("Manitoba", "mb"),
    ("New Brunswick", "nb"),
    ("Newfoundland and Labrador", "nl"),
    ("Nova Scotia", "ns"),
    ("Northwest Territories", "nt"),
    ("Nunavut", "nu"),
    ("Ontario", "on"),
    ("Prince Edward Island", "pe"),
    ("Quebec", "qc"),
    ("Saskatchewan", "sk"),
    ("Yukon", "yt"),
    ("Québec", "qc"),  # French spelling, added by hand
)

_NOT_ALNUM_ASCII: Final = re.compile(r"[^a-z0-9]+")


def lookup_key(text: str) -> str:
    """Lowercased letters and decimal digits of `text`, in NFC; everything else dropped."""
    lowered = text.lower()
    if lowered.isascii():
        return _NOT_ALNUM_ASCII.sub("", lowered)
    kept = "".join(c for c in unicodedata.normalize("NFC", lowered) if c.isalpha() or c.isdecimal())
    return unicodedata.normalize("NFC", kept)


def _keys(name: str) -> tuple[str, ...]:
    """The lookup key of `name` and, when it has accents, its unaccented key too."""
    key = lookup_key(name)
    folded = "".join(c for c in unicodedata.normalize("NFKD", key) if not unicodedata.combining(c))
    return (key,) if folded == key else (key, folded)


def _index(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lookup key -> code; the first pair wins when two names share a key."""
    index: dict[str, str] = {}
    for name, code in pairs:
        for key in _keys(name):
            index.setdefault(key, code)
    return index


def _country_pairs() -> Iterable[tuple[str, str]]:
    for alpha2, _alpha3, _name, _official, _common in COUNTRIES:
        yield alpha2, alpha2
    for alpha2, alpha3, _name, _official, _common in COUNTRIES:
        yield alpha3, alpha2
    yield from COUNTRY_ALIASES.items()
    for alpha2, _alpha3, name, official, common in COUNTRIES:
        for label in (name, official, common):
            if label is not None:
                yield label, alpha2


_COUNTRY_INDEX: Final[Mapping[str, str]] = _index(_country_pairs())

US_STATES: Final[Mapping[str, str]] = _index(_US_STATE_NAMES)
"""US state/territory lookup key (see `lookup_key`) -> 2-letter code."""

CA_PROVINCES: Final[Mapping[str, str]] = _index(_CA_PROVINCE_NAMES)
"""Canadian province/territory lookup key -> 2-letter code."""


_MAX_CACHED_LENGTH: Final = 128  # longer input is looked up uncached (the cache holds its keys)


def country_code(text: str) -> str | None:
    """Lowercase ISO alpha-2 for an alpha-2, alpha-3, English name or alias; else None."""
    if len(text) > _MAX_CACHED_LENGTH:
        return _COUNTRY_INDEX.get(lookup_key(text))
    return _cached_country_code(text)


@lru_cache(maxsize=4096)
def _cached_country_code(text: str) -> str | None:
    return _COUNTRY_INDEX.get(lookup_key(text))
