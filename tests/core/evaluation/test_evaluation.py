"""``ember eval``: the generator, scoring, the runner (scripted backend, hash embedder), the
report and the command's input checks. The real model runs in tests/integration/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ember.cli import main
from ember.core.evaluation import documents, generator, keyvalue, metrics, report, runner, tasks
from ember.core.evaluation.pdf import write_pdf
from ember.core.llm.config import EngineConfig
from ember.core.llm.scripted import ScriptedBackend


def test_generator_is_seeded() -> None:
    a, b = generator.conversation(3, 12), generator.conversation(3, 12)
    assert a.turns == b.turns and a.questions == b.questions
    assert generator.conversation(4, 12).turns != a.turns
    assert documents.documents(3, 5).questions == documents.documents(3, 5).questions
    assert keyvalue.key_value(3, 4).passages == keyvalue.key_value(3, 4).passages


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_conversation_evidence_is_said_and_answers_are_unambiguous(seed: int) -> None:
    conv = generator.conversation(seed, 12)
    assert len(conv.questions) == 12
    user_turns = [t.content for t in conv.turns if t.role == "user"]
    for q in conv.questions:
        [evidence] = q.evidence
        said = [i for i, t in enumerate(user_turns) if evidence in t]
        assert len(said) == 1, q
        # The answer appears only where the evidence does: distractors never repeat it.
        for t in user_turns:
            if any(metrics.contains(t, a) for a in q.answers):
                assert evidence in t, (q, t)
        assert q.distance is not None and 0 <= q.distance < len(conv.turns)


def test_changed_facts_ask_for_the_newest_value() -> None:
    conv = generator.conversation(5, 12)
    [city] = [q for q in conv.questions if q.group == "city"]
    old, new = re.match(r"moved from (.+) to (.+)", city.evidence[0]).groups()  # type: ignore[union-attr]
    assert city.answers == (new,)
    said_old = next(i for i, t in enumerate(conv.turns) if f"I live in {old}" in t.content)
    said_new = next(i for i, t in enumerate(conv.turns) if city.evidence[0] in t.content)
    assert said_old < said_new


def test_key_value_chains_have_the_stated_depth() -> None:
    kv = keyvalue.key_value(2, 8)
    pairs = dict(re.match(r"Key (\S+) has the value (\S+)\.", p).groups() for p in kv.passages)  # type: ignore[union-attr]
    for q in kv.questions:
        level = int(q.group.split()[1])
        key = re.search(r"key (\S+) in", q.text).group(1)  # type: ignore[union-attr]
        hops = 0
        while key in pairs:
            key, hops = pairs[key], hops + 1
        assert hops == level + 1 and q.answers == (key,)
        assert len(q.evidence) == level + 1


def test_generated_pdf_reads_back_page_by_page(tmp_path: Path) -> None:
    from pypdf import PdfReader

    docs = documents.documents(1, 10)
    pdf = docs.documents[0]
    write_pdf(tmp_path / "a.pdf", pdf.pages)
    reader = PdfReader(tmp_path / "a.pdf")
    assert len(reader.pages) == len(pdf.pages)
    for q in docs.questions:
        if q.group.startswith("pdf page"):
            page = int(q.group.rsplit(" ", 1)[1])
            text = reader.pages[page - 1].extract_text()
            assert metrics.contains(text, q.evidence[0]), q


def test_matching_sees_through_json_escaping() -> None:
    inner = json.dumps([{"message": 'She said "I\'m a violinist" today'}])
    prompt = json.dumps({"status": "OK", "message": f"Showing 1 of 1 results: {inner}"})
    assert metrics.contains(prompt, "I'm a violinist")
    assert not metrics.contains("a violinists' guild", "violinist")
    assert metrics.contains("It is on December 8.", "December 8")
    assert not metrics.contains("December 18", "December 8")


def test_token_f1_and_ranks() -> None:
    assert metrics.token_f1("Biscuit.", ["Biscuit"]) == 1.0
    assert metrics.token_f1("The cat is Biscuit", ["Biscuit"]) == pytest.approx(0.5)
    assert metrics.token_f1("no idea", ["Biscuit"]) == 0.0
    assert metrics.first_rank(["a", "b Biscuit", "Biscuit"], "biscuit") == 2
    assert metrics.first_rank(["a"], "biscuit") is None


def _smart_responder(prompt: str, constraint: Any) -> str:
    """Searches first, then answers from the newest search result in the prompt."""
    prompt = prompt.split("### Conversation")[-1]  # not the examples
    results = re.findall(r"Showing \d+ of \d+ results[^\n]*", prompt)
    asked = prompt.rfind('"type": "user_message"')
    if not results or asked > prompt.rfind("Showing"):
        kind = (
            "archival_memory_search" if "Look up key" in prompt or "?" not in prompt[-200:] else ""
        )
        kind = kind or "conversation_search"
        query = prompt[asked:][:200]
        return json.dumps(
            {
                "thoughts": "search",
                "function": kind,
                "arguments": {"query": query, "page": 0, "request_heartbeat": True},
            }
        )
    return json.dumps(
        {"thoughts": "answer", "function": "send_message", "arguments": {"message": results[-1]}}
    )


def test_runner_scores_a_scripted_agent(tmp_path: Path, hash_embedder: Any) -> None:
    task = tasks.make_tasks(["conversation"], seed=2, size=3)[0]
    backend = ScriptedBackend(responder=_smart_responder, n_ctx=8192)
    options = runner.EvalOptions(
        config=EngineConfig(step_format="functions"),  # an agent that searches itself
        workdir=tmp_path,
        backend_factory=lambda config: backend,
        auto_recall=False,
    )
    [run] = runner.run([task], options, hash_embedder)
    conversations = [p.split("### Conversation")[-1] for p in backend.prompts]
    assert not any(m in c for m in runner.RECALL_MARKERS for c in conversations)
    assert [r.qid for r in run.results] == [q.qid for q in task.questions]
    for r in run.results:
        assert r.steps == 2 and r.parse_failures == 0
        assert r.calls == ["conversation_search", "send_message"]
        assert r.finish == "message"
        assert r.rank is not None or not r.evidence_in_context
        if r.evidence_in_context:
            assert r.mechanisms == ["agent_search"]
            assert r.correct  # the reply quotes the search result holding the evidence
    # Every question ran on its own copy: the template never saw a question.
    with runner.Store(tmp_path / "conversation" / "template.db") as store:
        agent = store.get_agent("Ember")
        assert not [m for m in store.context_messages(agent.id) if m.kind == "user_message"]


def test_a_run_is_the_same_prompts_any_day(tmp_path: Path, hash_embedder: Any) -> None:
    """The time is in the prompt of the function format (login event, memories' times,
    stored passages), so the runner holds the clock at the generated world's time: two
    runs, two identical prompt lists, and the clock is the wall clock again afterwards."""
    from ember.core.evaluation.generator import ASKED_AT
    from ember.core.kernel import clock

    prompts = []
    for n in range(2):
        task = tasks.make_tasks(["kv"], seed=2, size=2)[0]
        backend = ScriptedBackend(responder=_smart_responder, n_ctx=8192)
        options = runner.EvalOptions(
            config=EngineConfig(step_format="functions"),
            workdir=tmp_path / str(n),
            backend_factory=lambda config, b=backend: b,
        )
        runner.run([task], options, hash_embedder)
        prompts.append(backend.prompts)
    assert prompts[0] == prompts[1] and clock.human_time(ASKED_AT) in prompts[0][-1]
    assert clock.now() > ASKED_AT


def test_automatic_recall_is_credited_when_it_brought_the_evidence(
    tmp_path: Path, hash_embedder: Any
) -> None:
    """An agent that answers at once: the evidence in its prompt can only have come from
    automatic recall (on by default), and the attribution says so."""
    task = tasks.make_tasks(["kv"], seed=2, size=2)[0]
    backend = ScriptedBackend(responder=lambda prompt, constraint: "Ember: ?\n", n_ctx=8192)
    options = runner.EvalOptions(workdir=tmp_path, backend_factory=lambda config: backend)
    [run] = runner.run([task], options, hash_embedder)
    assert all(any(m in p for m in runner.RECALL_MARKERS) for p in backend.prompts)
    for r in run.results:
        assert r.calls == ["send_message"]
        assert r.evidence_in_context == r.recalled
        assert r.mechanisms == (["auto_recall"] if r.recalled else [])
    assert any(r.recalled for r in run.results)


def test_runner_counts_unparseable_steps(tmp_path: Path, hash_embedder: Any) -> None:
    task = tasks.make_tasks(["kv"], seed=2, size=1)[0]
    outputs = [
        "not json at all",
        json.dumps({"thoughts": "", "function": "send_message", "arguments": {"message": "x"}}),
    ]
    backend = ScriptedBackend(outputs, n_ctx=8192)
    options = runner.EvalOptions(
        config=EngineConfig(step_format="functions"),  # an agent that searches itself
        workdir=tmp_path,
        backend_factory=lambda config: backend,
        auto_recall=False,
    )
    [run] = runner.run([task], options, hash_embedder)
    [r] = run.results
    assert (r.steps, r.parse_failures, r.reply, r.correct) == (2, 1, "x", False)
    assert not r.evidence_in_context and r.mechanisms == []


def test_retrieval_only_loads_no_model(tmp_path: Path, hash_embedder: Any) -> None:
    def no_model(config: Any) -> Any:
        raise AssertionError("the model was loaded")

    selected = tasks.make_tasks(["documents", "kv"], seed=2, size=4)
    options = runner.EvalOptions(retrieval_only=True, backend_factory=no_model)
    runs = runner.run(selected, options, hash_embedder)
    assert [len(r.results) for r in runs] == [4, 4]
    kv = metrics.summarize(runs[1].results)
    assert kv["recall@10"] == 1.0  # exact keys are found by keyword


def test_report_table_json_and_plot(tmp_path: Path) -> None:
    base = {"task": "conversation", "question": "q", "calls": ["send_message"]}
    results = [
        metrics.QuestionResult(
            qid="c1",
            group="job",
            distance=5,
            answers=["a"],
            reply="a",
            correct=True,
            f1=1.0,
            evidence_in_context=True,
            mechanisms=["auto_recall"],
            rank=1,
            recalled=True,
            steps=1,
            seconds=2.0,
            **base,
        ),
        metrics.QuestionResult(
            qid="c2",
            group="pet",
            distance=60,
            answers=["b"],
            reply="x",
            steps=3,
            parse_failures=1,
            seconds=4.0,
            **base,
        ),
    ]
    runs = [runner.TaskRun("conversation", "2 messages", results)]
    text = report.table(runs)
    assert "conversation    2  0.50" in text and "auto_recall 0.50" in text
    data = report.to_json(runs, {"seed": 1})
    summary = data["tasks"]["conversation"]["summary"]
    assert summary["recall@1"] == 0.5 and summary["parse_failures"] == 1
    assert summary["auto_recall_selects"] == 0.5
    assert list(data["tasks"]["conversation"]["by_distance"]) == ["0-19", "50-99"]
    report.write_json(tmp_path / "r.json", data)
    assert json.loads((tmp_path / "r.json").read_text())["overall"]["questions"] == 2
    report.plot(tmp_path / "r.png", runs, "test")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_on_a_server_that_is_down_ends_with_one_clear_line(
    capsys: pytest.CaptureFixture[str], hash_embedder: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ember.core import api
    from ember.core.memory import embedder

    # Both names: api caches what it resolved once, and must get its own name back after.
    monkeypatch.setattr(api, "SentenceTransformerEmbedder", lambda: hash_embedder)
    monkeypatch.setattr(embedder, "SentenceTransformerEmbedder", lambda: hash_embedder)
    assert main(["eval", "conversation", "--size", "1", "--server", "http://127.0.0.1:1/v1"]) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("ember: Cannot reach the server at http://127.0.0.1:1/v1")
    assert last.endswith("Is it running?")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "poetry"], "unknown task 'poetry'"),
        (["eval", "--size", "0"], "--size must be at least 1"),
        (["eval", "--threads", "0"], "--threads must be at least 1"),
        (["eval", "--server", "127.0.0.1:8080"], "is not a server URL"),
        (["eval", "--server-model", "m"], "--server-model needs --server URL"),
        (["eval", "--json", "/no/such/folder/r.json"], "its folder does not exist"),
    ],
)
def test_eval_rejects_bad_input_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_evidence_in_either_recalled_memory_of_the_dialogue_format_is_recalls() -> None:
    """The dialogue prompt shows two memories, best last: evidence in the first of them was
    brought by automatic recall, not "the context" (read from the reply's record)."""
    from ember.core.evaluation.generator import Question
    from ember.core.kernel.events import Remembered

    q = Question("conversation", "q1", "What is my tortoise called?", ("Mochi",), ("Mochi",), "pet")
    prompt = (
        "...Ember remembers what the user said: My tortoise is called Mochi.\n\nUser: " + q.text
    )
    record = [
        Remembered("recall", "automatic", "The ferry leaves at noon.", "2024-01-01T00:00"),
        Remembered("recall", "automatic", "My tortoise is called Mochi.", "2024-01-01T00:00"),
        Remembered("core", "core", "First name: Ada", "2024-01-01T00:00", label="human"),
    ]
    assert runner._mechanisms(prompt, q, record) == (True, ["auto_recall"])
    # The same evidence found by the agent's own search, or in the queue only.
    searched = [Remembered("archival", "search", "My tortoise is called Mochi.", "t")]
    assert runner._mechanisms(prompt, q, searched) == (True, ["agent_search"])
    assert runner._mechanisms(prompt, q, record[2:]) == (True, ["context"])
    # In core memory: credited even when the prompt lost it.
    core = [Remembered("core", "core", "Tortoise: Mochi", "t", label="human")]
    assert runner._mechanisms("nothing", q, core) == (True, ["core_memory"])
