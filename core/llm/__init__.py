"""Talking to a model: the backend protocol, llama.cpp in process (sampling, KV states, GGUF
files), OpenAI-compatible servers, the engine settings.
"""
