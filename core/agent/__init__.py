"""The MemGPT agent: the engine and its loop, the context window and its budget, prompts
(function and dialogue formats), tools, summaries, heartbeats.
"""
