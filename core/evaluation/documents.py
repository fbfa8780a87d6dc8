"""Generated documents for ``ember eval``: a PDF and a Markdown file about a fictional
town, with facts on known pages among filler prose, and questions about those facts."""

from __future__ import annotations

import random

from ember.core.evaluation.generator import Document, Documents, Question, _pick
from ember.core.evaluation.pools import (
    ANIMALS,
    BOATS,
    BUILDINGS,
    ISLANDS,
    MONTHS,
    NAMES,
    PET_NAMES,
    PROSE,
    RIVERS,
    STREETS,
    WEEKDAYS,
)


def _document_facts(rng: random.Random, used: set[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(fact sentence, question, answers)."""
    animal, pet = rng.choice(ANIMALS), _pick(rng, PET_NAMES, used)
    island, ferry = rng.choice(ISLANDS), f"{rng.randint(5, 9)}:{rng.choice(['10', '25', '40'])}"
    year, year2 = rng.randint(1700, 1899), rng.randint(1950, 1999)
    street, baker = rng.choice(STREETS), _pick(rng, NAMES, used)
    choir = _pick(rng, NAMES, used)
    river, metres = rng.choice(RIVERS), rng.randint(40, 400)
    building, boat = rng.choice(BUILDINGS), rng.choice(BOATS)
    weekday, month = rng.choice(WEEKDAYS), rng.choice(MONTHS)
    return [
        (
            f"The lighthouse keeper's {animal} is named {pet}.",
            f"What is the lighthouse keeper's {animal} called?",
            (pet,),
        ),
        (
            f"The ferry to {island} leaves at {ferry} every morning.",
            f"When does the ferry to {island} leave?",
            (ferry,),
        ),
        (
            f"The town museum's oldest clock was built in {year}.",
            "When was the town museum's oldest clock built?",
            (str(year),),
        ),
        (
            f"The bakery on {street} is run by {baker}.",
            f"Who runs the bakery on {street}?",
            (baker,),
        ),
        (f"The village choir is led by {choir}.", "Who leads the village choir?", (choir,)),
        (
            f"The bridge over the river {river} is {metres} metres long.",
            f"How long is the bridge over the river {river}?",
            (str(metres),),
        ),
        (
            f"The old mill was turned into a {building} in {year2}.",
            "What was the old mill turned into?",
            (building,),
        ),
        (
            f"The harbour master's boat is called the {boat}.",
            "What is the harbour master's boat called?",
            (boat,),
        ),
        (
            f"The chess club meets every {weekday} evening.",
            "On which day does the chess club meet?",
            (weekday,),
        ),
        (
            f"The kite festival takes place every year in {month}.",
            "In which month is the kite festival?",
            (month,),
        ),
    ]


def _paragraph(rng: random.Random, fact: str | None = None, n: int = 6) -> str:
    sentences = rng.sample(PROSE, n)
    if fact is not None:
        sentences.insert(rng.randint(1, n - 1), fact)
    return " ".join(sentences)


def documents(seed: int, size: int) -> Documents:
    """A 4-page PDF and a 3-section Markdown file; facts on known pages."""
    rng = random.Random(f"documents-{seed}")
    facts = _document_facts(rng, set())
    rng.shuffle(facts)
    pdf = Document("harbour-town-guide.pdf")
    md = Document("village-notes.md")
    questions: list[Question] = []
    # Facts 0-5 go to the PDF (pages 1-4), 6-9 to the Markdown sections.
    pdf_pages: list[list[str]] = [[] for _ in range(4)]
    for i, (fact, question, answers) in enumerate(facts):
        if i < 6:
            number = 1 + i % 4
            pdf_pages[number - 1].append(_paragraph(rng, fact))
            group = f"pdf page {number}"
        else:
            group = "markdown"
        questions.append(Question("documents", f"documents-{i}", question, answers, (fact,), group))
    for page in pdf_pages:
        page.insert(0, _paragraph(rng))
        page.append(_paragraph(rng))
        rng.shuffle(page)
    pdf.pages = pdf_pages
    headings = ["Around the harbour", "People of the village", "Through the year"]
    for h, heading in enumerate(headings):
        paragraphs = [_paragraph(rng), _paragraph(rng)]
        for j in range(6 + h, 10, 3):
            paragraphs.insert(1, _paragraph(rng, facts[j][0]))
        md.sections.append((heading, paragraphs))
    return Documents([pdf, md], questions[:size])
