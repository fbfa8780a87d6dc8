"""Word pools of ``ember eval``'s generator: fictional people, places, pets and the
ordinary chat and prose that facts are buried in. Plain data, ASCII only (the generated PDFs
use a standard font)."""

from __future__ import annotations

NAMES = [
    "Dana",
    "Priya",
    "Tomas",
    "Ines",
    "Marek",
    "Yuki",
    "Leila",
    "Oskar",
    "Noor",
    "Felix",
    "Greta",
    "Rafael",
    "Amara",
    "Lukas",
    "Sofia",
    "Emeka",
    "Hanna",
    "Mateo",
    "Zofia",
    "Idris",
]

JOBS = [
    "violinist",
    "carpenter",
    "pharmacist",
    "beekeeper",
    "architect",
    "translator",
    "glassblower",
    "marine biologist",
    "librarian",
    "firefighter",
    "cartographer",
    "pastry chef",
    "radio presenter",
    "tailor",
    "geologist",
    "midwife",
    "locksmith",
]

CITIES = [
    "Porto",
    "Lyon",
    "Ghent",
    "Bergen",
    "Tallinn",
    "Seville",
    "Dundee",
    "Quebec",
    "Adelaide",
    "Nagoya",
    "Utrecht",
    "Trieste",
    "Galway",
    "Bologna",
    "Krakow",
    "Halifax",
]

SPECIES = ["cat", "dog", "parrot", "rabbit", "tortoise", "hamster", "ferret"]

PET_NAMES = [
    "Biscuit",
    "Pepper",
    "Mochi",
    "Juniper",
    "Waffles",
    "Noodle",
    "Clementine",
    "Pickles",
    "Hazel",
    "Bramble",
    "Pretzel",
    "Toffee",
    "Basil",
    "Sprocket",
    "Olive",
]

DRINKS = [
    "green tea",
    "espresso",
    "hot chocolate",
    "chai",
    "oat latte",
    "peppermint tea",
    "black coffee",
    "rooibos",
]

ALLERGENS = ["peanuts", "shellfish", "pollen", "penicillin", "kiwi", "sesame", "walnuts"]

INSTRUMENTS = ["cello", "banjo", "accordion", "harp", "ukulele", "oboe", "saxophone", "mandolin"]

DISHES = [
    "mushroom risotto",
    "pad thai",
    "shakshuka",
    "lasagne",
    "ramen",
    "paella",
    "pierogi",
    "moussaka",
    "gnocchi",
]

CARS = ["Volvo", "Fiat", "Subaru", "Renault", "Mazda", "Skoda", "Peugeot"]

COLOURS = ["red", "green", "blue", "yellow", "grey", "orange", "white"]

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

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

GENRES = ["science fiction", "documentary", "horror", "romantic", "detective", "animated"]

OPINIONS = ["great", "a bit slow", "surprisingly good", "exhausting", "fun", "strange"]

WEATHER = ["rainy", "sunny", "windy", "foggy", "freezing", "warm"]

TOPICS = [
    "the history of salt",
    "deep sea creatures",
    "old maps",
    "bread baking",
    "medieval castles",
    "the moon landings",
    "mushrooms",
    "bridges",
]

ASSISTANT_FILLER = [
    "That sounds lovely!",
    "Tell me more about it.",
    "Good to hear. How are you feeling about it?",
    "I hope the rest of your week goes well.",
    "Here's an idea: keep it simple and enjoy it.",
    "Interesting! What did you like most?",
    "Thanks for telling me.",
    "Noted. Anything else on your mind?",
    "That makes sense.",
    "Try a short routine first and build up slowly.",
]

ISLANDS = ["Ilha Verde", "Skerry Holm", "Isla Plana", "Eilean Mor", "Ostero"]

STREETS = ["Rope Walk", "Tanner Lane", "Quay Street", "Mill Row", "Chapel Hill"]

RIVERS = ["Aln", "Tavy", "Wyre", "Esk", "Leven"]

BUILDINGS = ["library", "theatre", "youth hostel", "cider house", "pottery school"]

BOATS = ["Marigold", "Kestrel", "Second Wind", "Puffin", "Morning Star"]

ANIMALS = ["cat", "dog", "goat", "parrot"]

PROSE = [
    "The streets near the square are quiet in the early morning.",
    "Fishing boats come back to the harbour when the tide turns.",
    "Visitors often stop at the market for bread and cheese.",
    "A narrow path climbs from the beach to the cliffs.",
    "The council repaired the sea wall after the winter storms.",
    "Most houses in the old quarter have slate roofs.",
    "In summer the population of the town nearly doubles.",
    "The bus to the city runs twice a day except on holidays.",
    "Gulls nest on the roof of the fish market every spring.",
    "The tourist office lends bicycles to anyone with a map.",
    "A small stream runs behind the church and into the bay.",
    "Local children learn to sail in the sheltered cove.",
    "The library keeps old photographs of the harbour.",
    "Walkers are asked to keep dogs on a lead near the sheep.",
    "On clear nights the lights of the next town are visible.",
    "The post office closes at noon on Saturdays.",
    "Fog sometimes covers the headland until late morning.",
    "Several footpaths meet at the stone cross above the town.",
]
