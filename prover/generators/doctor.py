"""`prover doctor` lines for the model backends: GPU, torch, transformers, vLLM, openai."""

from __future__ import annotations

from prover.doctor import Check, module_present, package_version
from prover.generators.vllm import OTHER_MODELS, unusable_reasons


def _gpu() -> Check:
    if not module_present("torch"):
        return Check(
            "gpu (torch.cuda)", False, "torch is not installed", "pip install 'prover[hf]'"
        )
    import torch

    if torch.cuda.is_available():
        names = []
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            names.append(f"cuda:{i} {props.name} {props.total_memory / 2**30:.0f} GiB")
        return Check("gpu (torch.cuda)", True, f"CUDA {torch.version.cuda}: " + "; ".join(names))
    build = (
        "CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
    )
    return Check(
        "gpu (torch.cuda)",
        False,
        f"no CUDA GPU visible to torch {torch.__version__} ({build})",
        "needs an NVIDIA GPU and driver; there, pip install 'prover[vllm]' brings a CUDA build "
        "of torch (or see https://pytorch.org/get-started/locally/ for hf on GPU)",
    )


def _version(dist: str, extra: str) -> Check:
    version = package_version(dist)
    return Check(
        dist, version is not None, version or "not installed", f"pip install 'prover[{extra}]'"
    )


def checks() -> list[Check]:
    """GPU, torch / transformers / vllm versions, and whether each model backend can run here."""
    out = [
        _gpu(),
        _version("torch", "hf"),
        _version("transformers", "hf"),
        _version("vllm", "vllm"),
    ]
    reasons = unusable_reasons()
    out.append(
        Check(
            "model backend vllm",
            not reasons,
            "usable (the default model, vllm:EleutherAI/llemma_7b)"
            if not reasons
            else "unusable here: " + "; ".join(reasons),
            f"on a Linux machine with a CUDA GPU: pip install 'prover[vllm]'; or {OTHER_MODELS}",
        )
    )
    hf_missing = [d for d in ("torch", "transformers") if package_version(d) is None]
    out.append(
        Check(
            "model backend hf",
            not hf_missing,
            "usable (--model hf:PATH_OR_HUB_ID, CPU or GPU)"
            if not hf_missing
            else "missing " + ", ".join(hf_missing),
            "pip install 'prover[hf]'",
        )
    )
    openai_version = package_version("openai")
    out.append(
        Check(
            "model backend openai",
            openai_version is not None,
            f"usable (--model openai:MODEL@http://HOST:PORT/v1; openai {openai_version})"
            if openai_version
            else "the official openai client is not installed",
            "pip install 'prover[openai]'",
        )
    )
    return out
