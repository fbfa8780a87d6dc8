"""The service API: what the front ends (app/, cli/) use of core/, in one place.

Front ends import from here, from :mod:`ember.core.kernel.errors` and from
:mod:`ember.core.kernel.events`, and from nothing else of core/ (a test checks it): the
service (:class:`Ember`) is the door; the rest are the records it answers with and the few
stateless helpers a dialog calls before or beside the service (checking a model file,
probing a server, the catalogue). Internals may move without the front ends noticing.

Names are resolved on first use (PEP 562), so importing one does not load the model
stack: ``ember --help`` and the window stay quick to start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.core.agent.heartbeats import HeartbeatScheduler as HeartbeatScheduler
    from ember.core.agent.presets import DEFAULT_HUMAN as DEFAULT_HUMAN
    from ember.core.agent.presets import DEFAULT_PERSONA as DEFAULT_PERSONA
    from ember.core.agent.presets import choices as preset_choices
    from ember.core.agent.presets import humans as humans
    from ember.core.agent.presets import personas as personas
    from ember.core.documents.document import path_text as path_text
    from ember.core.documents.ingest import IngestProgress as IngestProgress
    from ember.core.documents.ingest import IngestResult as IngestResult
    from ember.core.kernel.clock import now_iso as now_iso
    from ember.core.kernel.events import Remembered as Remembered
    from ember.core.kernel.jsontypes import JSONObject as JSONObject
    from ember.core.kernel.paths import DB_FILENAME as DB_FILENAME
    from ember.core.kernel.paths import data_dir as data_dir
    from ember.core.kernel.paths import data_dir_path as data_dir_path
    from ember.core.llm.apikey import store_api_key as store_api_key
    from ember.core.llm.backend import Backend as Backend
    from ember.core.llm.config import MAX_CTX as MAX_CTX
    from ember.core.llm.config import MIN_CTX as MIN_CTX
    from ember.core.llm.config import EngineConfig as EngineConfig
    from ember.core.llm.server_caps import ServerCapabilities as ServerCapabilities
    from ember.core.llm.server_caps import probe_server as probe_server
    from ember.core.llm.server_url import parse_server_url as parse_server_url
    from ember.core.memory.embedder import EmbedderFactory as EmbedderFactory
    from ember.core.memory.embedder import (
        SentenceTransformerEmbedder as SentenceTransformerEmbedder,
    )
    from ember.core.memory.memorypass import PassResult as PassResult
    from ember.core.memory.reader import MemoryReads as MemoryReads
    from ember.core.memory.reader import Reader as Reader
    from ember.core.memory.search import ResultPage as ResultPage
    from ember.core.models.catalogue import CatalogueEntry as CatalogueEntry
    from ember.core.models.catalogue import download_entry as download_entry
    from ember.core.models.catalogue import entries as catalogue_entries
    from ember.core.models.catalogue import find as find_catalogue_entry
    from ember.core.models.check import ModelCheck as ModelCheck
    from ember.core.models.check import check_model as check_model
    from ember.core.models.check import human_size as human_size
    from ember.core.models.choice import context_problem as context_problem
    from ember.core.models.choice import model_choice as model_choice
    from ember.core.models.choice import use_bundled as use_bundled
    from ember.core.models.choice import use_catalogue as use_catalogue
    from ember.core.models.choice import use_file as use_file
    from ember.core.models.choice import use_server as use_server
    from ember.core.models.scan import ModelCandidate as ModelCandidate
    from ember.core.models.scan import scan_models as scan_models
    from ember.core.service import AgentSummary as AgentSummary
    from ember.core.service import BackendFactory as BackendFactory
    from ember.core.service import Ember as Ember
    from ember.core.service import IdleWork as IdleWork
    from ember.core.service import MemorySnapshot as MemorySnapshot
    from ember.core.service import ModelStatus as ModelStatus
    from ember.core.service import PassagePage as PassagePage
    from ember.core.service import Prepared as Prepared
    from ember.core.service import Preparing as Preparing
    from ember.core.service import RecallPage as RecallPage
    from ember.core.service import Retracted as Retracted
    from ember.core.service import default_backend as default_backend
    from ember.core.storage.agent_names import printable as printable
    from ember.core.storage.agent_names import shown as shown
    from ember.core.storage.blockhistory import BlockChange as BlockChange
    from ember.core.storage.blockhistory import diff as diff
    from ember.core.storage.messages import HEARTBEAT_TIMED as HEARTBEAT_TIMED
    from ember.core.storage.messages import Kind as Kind
    from ember.core.storage.messages import Notice as Notice
    from ember.core.storage.messages import Other as Other
    from ember.core.storage.messages import Part as Part
    from ember.core.storage.messages import Result as Result
    from ember.core.storage.messages import Role as Role
    from ember.core.storage.messages import Step as Step
    from ember.core.storage.messages import Stopped as Stopped
    from ember.core.storage.messages import UserSaid as UserSaid
    from ember.core.storage.store import Agent as Agent
    from ember.core.storage.store import Block as Block
    from ember.core.storage.store import Message as Message
    from ember.core.storage.store import Source as Source
    from ember.core.transfer.files import ProgressCallback as ProgressCallback
    from ember.core.transfer.files import TransferProgress as TransferProgress
    from ember.core.transfer.history_import import check_history as check_history

# name -> (module, name there)
_WHERE = {
    "Agent": ("ember.core.storage.store", "Agent"),
    "AgentSummary": ("ember.core.service", "AgentSummary"),
    "Backend": ("ember.core.llm.backend", "Backend"),
    "BackendFactory": ("ember.core.service", "BackendFactory"),
    "Block": ("ember.core.storage.store", "Block"),
    "BlockChange": ("ember.core.storage.blockhistory", "BlockChange"),
    "CatalogueEntry": ("ember.core.models.catalogue", "CatalogueEntry"),
    "DB_FILENAME": ("ember.core.kernel.paths", "DB_FILENAME"),
    "DEFAULT_HUMAN": ("ember.core.agent.presets", "DEFAULT_HUMAN"),
    "DEFAULT_PERSONA": ("ember.core.agent.presets", "DEFAULT_PERSONA"),
    "preset_choices": ("ember.core.agent.presets", "choices"),
    "EmbedderFactory": ("ember.core.memory.embedder", "EmbedderFactory"),
    "Ember": ("ember.core.service", "Ember"),
    "EngineConfig": ("ember.core.llm.config", "EngineConfig"),
    "HEARTBEAT_TIMED": ("ember.core.storage.messages", "HEARTBEAT_TIMED"),
    "HeartbeatScheduler": ("ember.core.agent.heartbeats", "HeartbeatScheduler"),
    "IdleWork": ("ember.core.service", "IdleWork"),
    "IngestProgress": ("ember.core.documents.ingest", "IngestProgress"),
    "IngestResult": ("ember.core.documents.ingest", "IngestResult"),
    "JSONObject": ("ember.core.kernel.jsontypes", "JSONObject"),
    "Kind": ("ember.core.storage.messages", "Kind"),
    "MAX_CTX": ("ember.core.llm.config", "MAX_CTX"),
    "MIN_CTX": ("ember.core.llm.config", "MIN_CTX"),
    "MemoryReads": ("ember.core.memory.reader", "MemoryReads"),
    "MemorySnapshot": ("ember.core.service", "MemorySnapshot"),
    "Message": ("ember.core.storage.store", "Message"),
    "ModelCandidate": ("ember.core.models.scan", "ModelCandidate"),
    "ModelCheck": ("ember.core.models.check", "ModelCheck"),
    "ModelStatus": ("ember.core.service", "ModelStatus"),
    "Notice": ("ember.core.storage.messages", "Notice"),
    "Other": ("ember.core.storage.messages", "Other"),
    "Part": ("ember.core.storage.messages", "Part"),
    "PassResult": ("ember.core.memory.memorypass", "PassResult"),
    "PassagePage": ("ember.core.service", "PassagePage"),
    "Prepared": ("ember.core.service", "Prepared"),
    "Preparing": ("ember.core.service", "Preparing"),
    "ProgressCallback": ("ember.core.transfer.files", "ProgressCallback"),
    "Reader": ("ember.core.memory.reader", "Reader"),
    "RecallPage": ("ember.core.service", "RecallPage"),
    "Remembered": ("ember.core.kernel.events", "Remembered"),
    "Retracted": ("ember.core.service", "Retracted"),
    "Result": ("ember.core.storage.messages", "Result"),
    "ResultPage": ("ember.core.memory.search", "ResultPage"),
    "Role": ("ember.core.storage.messages", "Role"),
    "SentenceTransformerEmbedder": ("ember.core.memory.embedder", "SentenceTransformerEmbedder"),
    "ServerCapabilities": ("ember.core.llm.server_caps", "ServerCapabilities"),
    "Source": ("ember.core.storage.store", "Source"),
    "Step": ("ember.core.storage.messages", "Step"),
    "Stopped": ("ember.core.storage.messages", "Stopped"),
    "TransferProgress": ("ember.core.transfer.files", "TransferProgress"),
    "UserSaid": ("ember.core.storage.messages", "UserSaid"),
    "catalogue_entries": ("ember.core.models.catalogue", "entries"),
    "check_history": ("ember.core.transfer.history_import", "check_history"),
    "check_model": ("ember.core.models.check", "check_model"),
    "context_problem": ("ember.core.models.choice", "context_problem"),
    "data_dir": ("ember.core.kernel.paths", "data_dir"),
    "data_dir_path": ("ember.core.kernel.paths", "data_dir_path"),
    "default_backend": ("ember.core.service", "default_backend"),
    "diff": ("ember.core.storage.blockhistory", "diff"),
    "download_entry": ("ember.core.models.catalogue", "download_entry"),
    "find_catalogue_entry": ("ember.core.models.catalogue", "find"),
    "human_size": ("ember.core.models.check", "human_size"),
    "humans": ("ember.core.agent.presets", "humans"),
    "model_choice": ("ember.core.models.choice", "model_choice"),
    "now_iso": ("ember.core.kernel.clock", "now_iso"),
    "parse_server_url": ("ember.core.llm.server_url", "parse_server_url"),
    "path_text": ("ember.core.documents.document", "path_text"),
    "personas": ("ember.core.agent.presets", "personas"),
    "probe_server": ("ember.core.llm.server_caps", "probe_server"),
    "scan_models": ("ember.core.models.scan", "scan_models"),
    "printable": ("ember.core.storage.agent_names", "printable"),
    "shown": ("ember.core.storage.agent_names", "shown"),
    "store_api_key": ("ember.core.llm.apikey", "store_api_key"),
    "use_bundled": ("ember.core.models.choice", "use_bundled"),
    "use_catalogue": ("ember.core.models.choice", "use_catalogue"),
    "use_file": ("ember.core.models.choice", "use_file"),
    "use_server": ("ember.core.models.choice", "use_server"),
}

__all__ = [
    "DB_FILENAME",
    "DEFAULT_HUMAN",
    "DEFAULT_PERSONA",
    "HEARTBEAT_TIMED",
    "MAX_CTX",
    "MIN_CTX",
    "Agent",
    "AgentSummary",
    "Backend",
    "BackendFactory",
    "Block",
    "BlockChange",
    "CatalogueEntry",
    "EmbedderFactory",
    "Ember",
    "EngineConfig",
    "HeartbeatScheduler",
    "IdleWork",
    "IngestProgress",
    "IngestResult",
    "JSONObject",
    "Kind",
    "MemoryReads",
    "MemorySnapshot",
    "Message",
    "ModelCandidate",
    "ModelCheck",
    "ModelStatus",
    "Notice",
    "Other",
    "Part",
    "PassResult",
    "PassagePage",
    "Prepared",
    "Preparing",
    "ProgressCallback",
    "Reader",
    "RecallPage",
    "Remembered",
    "Result",
    "ResultPage",
    "Retracted",
    "Role",
    "SentenceTransformerEmbedder",
    "ServerCapabilities",
    "Source",
    "Step",
    "Stopped",
    "TransferProgress",
    "UserSaid",
    "catalogue_entries",
    "check_history",
    "check_model",
    "context_problem",
    "data_dir",
    "data_dir_path",
    "default_backend",
    "diff",
    "download_entry",
    "find_catalogue_entry",
    "human_size",
    "humans",
    "model_choice",
    "now_iso",
    "parse_server_url",
    "path_text",
    "personas",
    "preset_choices",
    "printable",
    "probe_server",
    "scan_models",
    "shown",
    "store_api_key",
    "use_bundled",
    "use_catalogue",
    "use_file",
    "use_server",
]


def __getattr__(name: str) -> object:
    try:
        module, attr = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
