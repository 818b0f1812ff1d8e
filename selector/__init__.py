"""Background judgement: model ranking and edit-performance prediction (later issues).

Imports `adapters`, never `server`.
"""
