"""Model ranking: which base model suits this repository, judged from cheap proxies.

After Bi et al. 2025 (arXiv 2501.03783): fine-tuning every candidate is too costly and
picking by size is unreliable, so cheap proxies (zero-shot loss, LogME, a few LoRA steps,
latency) feed a learned predictor, and a budgeted search fine-tunes only the best few.

Modules: `catalogue` (candidates), `derive` (variants built here from the default model),
`zoo` (small code models pre-trained here), `logme`, `proxies`, `predictor`, `search`,
`cache` (rankings kept per repository, refreshed on drift).
"""
