"""What an OpenAI-compatible server can do, found out once when a backend starts.

A few requests, in this order, stopping at the first server that recognises itself:

1. ``{api}/models`` -- the server answers at all, the key is accepted, the model exists
   (the first one offered when none was named); vLLM states ``max_model_len`` here.
2. ``{root}/props`` -- llama.cpp's own server: GBNF ``grammar`` and ``json_schema`` on
   ``/v1/completions``, ``cache_prompt``, ``/tokenize``, its slots, the slot's context size
   and the model's chat template. A model without a template gets
   llama.cpp's ChatML stand-in there; that one is recognised (one ``/tokenize`` call) and
   reported as no template, so Ember writes its neutral transcript as it does in process.
3. ``{root}/openapi.json`` -- FastAPI servers describe their request fields:
   llama-cpp-python's server (``grammar``, ``/extras/tokenize``), vLLM
   (``structured_outputs`` / ``guided_json`` / ``response_format`` JSON schema,
   ``/tokenize``).
4. ``{root}/api/version`` -- Ollama; then ``/api/show`` (the model's ``num_ctx`` when it
   sets one, and its trained length) and ``/api/ps`` (the window of the loaded model).

Anything else (LM Studio on ``/v1/completions``, unknown servers) gets plain output that
the backend cuts to one JSON object and the engine validates; its token counts are a
stated estimate (see remote.py). The window is the server's own figure whenever it states
one (:attr:`ServerCapabilities.n_ctx`); only a server that states none runs at Ember's
setting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from ember.core.kernel.errors import ServerError, quoted
from ember.core.kernel.jsontypes import JSONObject
from ember.core.llm.openai_client import OpenAIClient
from ember.core.llm.server_url import parse_server_url
from ember.core.step.schema import Constraint

# How steps are constrained on a server.
ConstraintKind = Literal["gbnf", "json_schema", "none"]
ConstraintChoice = Literal["auto", "gbnf", "json_schema", "none"]
# How a server takes a JSON schema on /v1/completions (llama.cpp's own field first).
SchemaField = Literal["json_schema", "structured_outputs", "guided_json", "response_format"]
_OPENAPI_SCHEMA_FIELDS: tuple[SchemaField, ...] = (
    "structured_outputs",
    "guided_json",
    "response_format",
)


@dataclass(frozen=True)
class Tokenizer:
    """A server's tokenization endpoint: where it is and how it is asked."""

    path: str
    root: bool  # under the server root rather than the API base
    style: Literal["llama.cpp", "llama-cpp-python", "vllm"]


@dataclass(frozen=True)
class ServerCapabilities:
    """What was detected."""

    flavour: str  # "llama.cpp", "llama-cpp-python", "vllm", or "openai-compatible"
    model: str
    models: tuple[str, ...]
    constraint: ConstraintKind
    schema_field: SchemaField | None = None
    tokenizer: Tokenizer | None = None
    n_ctx: int | None = None
    chat_template: str | None = None
    cache_prompt: bool = False  # send llama.cpp's cache_prompt flag
    bos_token: str = ""  # the texts of the model's BOS/EOS tokens, when the server says
    eos_token: str = ""
    prompt_progress: bool = False  # streams llama.cpp's prompt_progress when asked
    slots: int = 0  # llama.cpp's slots (for ember doctor; the server picks one per request)
    template_missing: bool = False  # the server said its model has no chat template
    n_ctx_cap: int | None = None  # no window stated, but the model's trained length (Ollama)

    @property
    def notices(self) -> tuple[str, ...]:
        """What a user of this server should know before the first message (one line
        each): the prompt format Ember falls back to."""
        if self.template_missing:
            return (
                f"The server's model {quoted(self.model)} has no chat template: Ember writes a "
                "plain User:/Ember: transcript, which suits base models; an instruct model with "
                "its template answers better.",
            )
        if self.chat_template is None:
            return (
                f"The server ({self.flavour}) does not say which chat template its model uses: "
                "Ember writes a plain User:/Ember: transcript.",
            )
        return ()


def list_models(client: OpenAIClient) -> list[JSONObject]:
    """The server's ``/v1/models`` entries (raises ServerError when it cannot be asked)."""
    data = client.request_json("GET", "/models", timeout=30.0)
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ServerError(
            f"The server at {client.endpoint.url} did not list its models (/v1/models); is "
            "this an OpenAI-compatible API?",
            "bad_response",
        )
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]


def _pick_model(client: OpenAIClient, entries: list[JSONObject], wanted: str | None) -> str:
    ids = [str(e["id"]) for e in entries]
    if wanted:
        if ids and wanted not in ids:
            raise ServerError(
                f'The server at {client.endpoint.url} has no model "{wanted}"; it offers: '
                + ", ".join(ids[:10]),
                "model_missing",
            )
        return wanted
    if not ids:
        raise ServerError(
            f"The server at {client.endpoint.url} offers no model; load one in it first.",
            "model_missing",
        )
    return ids[0]


def _request_fields(spec: dict[str, Any], path: str) -> set[str]:
    """Property names of the JSON request body of POST ``path`` in an OpenAPI document."""
    try:
        content = spec["paths"][path]["post"]["requestBody"]["content"]
        schema = content["application/json"]["schema"]
    except (KeyError, TypeError):
        return set()
    schemas = spec.get("components", {}).get("schemas", {})
    seen: set[str] = set()
    fields: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            stack.append(schemas.get(ref.rsplit("/", 1)[-1], {}))
        fields.update(node.get("properties", {}) or {})
        for key in ("allOf", "anyOf", "oneOf"):
            stack.extend(node.get(key, []) or [])
    return fields


def detect(
    client: OpenAIClient, model: str | None = None, choice: ConstraintChoice = "auto"
) -> ServerCapabilities:
    """Ask the server what it offers (see the module docstring). ``choice`` other than
    ``auto`` forces how steps are constrained (for servers that describe nothing)."""
    entries = list_models(client)
    picked = _pick_model(client, entries, model)
    entry = next((e for e in entries if e["id"] == picked), {})
    n_ctx = entry.get("max_model_len") or entry.get("context_length")
    caps = (
        _llama_cpp(client, picked, entries)
        or _fastapi(client, picked, entries)
        or _ollama(client, picked, entries)
    )
    if caps is None:
        caps = ServerCapabilities(
            "openai-compatible",
            picked,
            tuple(str(e["id"]) for e in entries),
            "none",
            n_ctx=int(n_ctx) if isinstance(n_ctx, int) else None,
        )
    if choice != "auto" and choice != caps.constraint:
        field: SchemaField | None = caps.schema_field or "response_format"
        caps = replace(caps, constraint=choice, schema_field=field)
    return caps


def probe_server(
    url: str, model: str | None = None, api_key: str | None = None
) -> ServerCapabilities:
    """What the server at ``url`` offers (its models among it), asked with ``api_key`` (a key
    just typed) or else its key from ``EMBER_API_KEY`` or the keychain: a settings page's
    "Test" (raises ServerError)."""
    from ember.core.llm.apikey import api_key_for, checked_key

    key = checked_key(api_key) if api_key else api_key_for(url)
    return detect(OpenAIClient(parse_server_url(url), key), model)


# llama.cpp's stand-in for a model without a chat template (common/chat.cpp,
# CHATML_TEMPLATE_SRC): /props reports it as if it were the model's own.
LLAMA_CPP_FALLBACK_TEMPLATE = (
    "{%- for message in messages -%}\n"
    "  {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "  {{- '<|im_start|>assistant\n' -}}\n"
    "{%- endif -%}"
)


def _knows_chatml(client: OpenAIClient) -> bool:
    """Whether the server's model has ChatML's ``<|im_start|>`` as one special token (then
    the ChatML template is really its own)."""
    try:
        data = client.request_json(
            "POST", "/tokenize", {"content": "<|im_start|>", "parse_special": True}, root=True
        )
    except ServerError as exc:
        if exc.kind in ("unreachable", "auth"):
            raise
        return False
    tokens = data.get("tokens")
    return isinstance(tokens, list) and len(tokens) == 1


def _llama_cpp(
    client: OpenAIClient, model: str, entries: list[JSONObject]
) -> ServerCapabilities | None:
    props = client.probe_json("/props", root=True)
    if not isinstance(props, dict) or "default_generation_settings" not in props:
        return None
    settings = props.get("default_generation_settings") or {}
    # The slot's window (what one request may use) before the server's whole context.
    n_ctx = (settings.get("n_ctx") if isinstance(settings, dict) else None) or props.get("n_ctx")
    template = props.get("chat_template") or None
    missing = template is None or (
        template == LLAMA_CPP_FALLBACK_TEMPLATE and not _knows_chatml(client)
    )
    bos, eos = props.get("bos_token"), props.get("eos_token")
    slots = props.get("total_slots")
    return ServerCapabilities(
        "llama.cpp",
        model,
        tuple(str(e["id"]) for e in entries),
        "gbnf",
        schema_field="json_schema",
        tokenizer=Tokenizer("/tokenize", True, "llama.cpp"),
        n_ctx=int(n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None,
        chat_template=None if missing else str(template),
        cache_prompt=True,
        bos_token=bos if isinstance(bos, str) else "",
        eos_token=eos if isinstance(eos, str) else "",
        prompt_progress=True,
        slots=slots if isinstance(slots, int) and slots > 0 else 0,
        template_missing=missing,
    )


def _fastapi(
    client: OpenAIClient, model: str, entries: list[JSONObject]
) -> ServerCapabilities | None:
    spec = client.probe_json("/openapi.json", root=True)
    if not isinstance(spec, dict):
        return None
    declared = spec.get("paths")
    if not isinstance(declared, dict):
        return None
    api = client.endpoint.api
    paths = {
        p[len(client.endpoint.root) :] if p.startswith(client.endpoint.root) else p
        for p in declared
    }
    fields = _request_fields(spec, "/v1/completions") or _request_fields(spec, api + "/completions")
    if not fields:
        return None
    ids = tuple(str(e["id"]) for e in entries)
    entry = next((e for e in entries if e["id"] == model), {})
    n_ctx = entry.get("max_model_len")
    window = int(n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None
    if "/extras/tokenize" in paths:
        flavour, tokenizer = (
            "llama-cpp-python",
            Tokenizer("/extras/tokenize", True, "llama-cpp-python"),
        )
    elif "/tokenize" in paths:
        flavour, tokenizer = "vllm", Tokenizer("/tokenize", True, "vllm")
    else:
        flavour, tokenizer = "openai-compatible", None
    if "grammar" in fields:
        return ServerCapabilities(flavour, model, ids, "gbnf", tokenizer=tokenizer, n_ctx=window)
    for name in _OPENAPI_SCHEMA_FIELDS:
        if name in fields:
            return ServerCapabilities(
                flavour,
                model,
                ids,
                "json_schema",
                schema_field=name,
                tokenizer=tokenizer,
                n_ctx=window,
            )
    return ServerCapabilities(flavour, model, ids, "none", tokenizer=tokenizer, n_ctx=window)


def _ollama_num_ctx(parameters: object) -> int | None:
    """``num_ctx N`` from Ollama's Modelfile parameters text, if set."""
    if not isinstance(parameters, str):
        return None
    for line in parameters.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "num_ctx" and words[1].isdigit():
            return int(words[1])
    return None


def _ollama(
    client: OpenAIClient, model: str, entries: list[JSONObject]
) -> ServerCapabilities | None:
    """Ollama: its window is ``num_ctx`` when the model sets one, else the context of the
    loaded model (``/api/ps``); its trained length (``/api/show``) is never the window
    (Ollama runs a smaller one and cuts longer prompts), only a cap on Ember's setting."""
    version = client.probe_json("/api/version", root=True)
    if not isinstance(version, dict) or not isinstance(version.get("version"), str):
        return None
    try:
        show = client.request_json("POST", "/api/show", {"model": model}, root=True, timeout=30)
    except ServerError:
        show = {}
    n_ctx = _ollama_num_ctx(show.get("parameters"))
    trained = None
    info = show.get("model_info")
    if isinstance(info, dict):
        lengths = [v for k, v in info.items() if k.endswith(".context_length")]
        trained = next((int(v) for v in lengths if isinstance(v, int) and v > 0), None)
    if n_ctx is None:
        running = client.probe_json("/api/ps", root=True) or {}
        listed = running.get("models")
        for entry in listed if isinstance(listed, list) else []:
            if isinstance(entry, dict) and model in (entry.get("name"), entry.get("model")):
                length = entry.get("context_length")
                n_ctx = int(length) if isinstance(length, int) and length > 0 else None
    return ServerCapabilities(
        "ollama",
        model,
        tuple(str(e["id"]) for e in entries),
        "none",
        n_ctx=n_ctx,
        n_ctx_cap=trained,
    )


def constraint_fields(caps: ServerCapabilities, constraint: Constraint | None) -> dict[str, object]:
    """The request fields that constrain one completion on this server (none when the
    server takes neither form, or the completion is free text)."""
    if constraint is None:
        return {}
    if caps.constraint == "gbnf" and constraint.gbnf:
        return {"grammar": constraint.gbnf}
    schema = dict(constraint.json_schema)
    if caps.constraint == "json_schema" and schema:
        field = caps.schema_field or "response_format"
        if field == "json_schema":  # llama.cpp's own field
            return {"json_schema": schema}
        if field == "structured_outputs":
            return {"structured_outputs": {"json": schema}}
        if field == "guided_json":
            return {"guided_json": schema}
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "step", "schema": schema, "strict": True},
            }
        }
    return {}
