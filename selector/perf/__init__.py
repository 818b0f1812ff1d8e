"""Edit-performance prediction: on-save hints that say whether an edit made a function slower.

The method follows Liu & Baghdadi 2025 ("Data-efficient Performance Modeling via
Pre-training", arXiv 2501.14438): functions become AST feature vectors (`features`), an
autoencoder is pre-trained on many unlabelled functions (`corpus`, `model`), a small
regressor on its code is fitted on few measured runtimes of generated programs (`programs`,
`sandbox`, `labels`), and the predictor runs in onnxruntime (`export`). `hints` is the entry
point for the server and the CLI; `train` rebuilds the shipped model (`tailor perf --train`).

Nothing here runs the user's code unless a caller passes the user's explicit permission
(`sandbox.measure_user_function(..., allowed=True)`).
"""
