"""Tailor's model runtime: base models, generation, prompts and (later) LoRA adapters.

This room imports nothing else of Tailor's, so it can be used and tested on its own.
"""
