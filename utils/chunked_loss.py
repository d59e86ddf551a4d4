"""The causal-LM loss computed from the last hidden state without ever holding the whole batch's logits.

A GPT-2 step normally projects every position onto the whole vocabulary: for a batch of 8 x 128 tokens and
50,257 tokens that is a 206 MB tensor of fp32 logits, then its log-softmax and its gradient, each as large. Here the
output layer and the cross-entropy run together over ``chunk`` positions at a time, and each chunk's gradient is
worked out on the spot (softmax minus the one-hot target), so backward only hands back two small results. It is
the CPU form of Liger Kernel's fused linear cross-entropy and of "Cut Your Losses in Large-Vocabulary Language
Models": the same loss, the same gradients, a few MB of logits at a time. benchmarks/README.md has the measured
memory and step times.
"""

from __future__ import annotations

import torch

from utils.support.allocator import release_freed_memory

IGNORE_INDEX = -100  # the label the collators give positions that are not scored
# positions projected onto the vocabulary at a time: 4 sequences of 128, 103 MB of fp32 logits for GPT-2's 50,257
# tokens instead of the batch's 206 MB: as fast as the whole batch on a 2-core CPU, where 128 is 1.10x slower
DEFAULT_CHUNK = 512


def shifted_targets(labels: torch.Tensor) -> torch.Tensor:
    """The token each position must predict: ``labels`` moved one place left, with the last position ignored
    (what ``GPT2LMHeadModel`` does before its loss)."""
    return torch.nn.functional.pad(labels[..., 1:], (0, 1), value=IGNORE_INDEX)


class _LinearCrossEntropy(torch.autograd.Function):
    """sum over positions of -ln softmax(hidden @ weight.T)[target] / divisor, chunk by chunk."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, divisor, chunk, dtype, want_grad):
        ctx.weight_dtype = weight.dtype
        with torch.autocast(hidden.device.type, enabled=False):
            w = weight.to(dtype)
            low = dtype != torch.float32  # the products in bf16/fp16, the softmax in fp32
            total = torch.zeros((), dtype=torch.float32, device=hidden.device)
            grad_hidden = torch.empty_like(hidden) if want_grad and ctx.needs_input_grad[0] else None
            grad_weight = (torch.empty_like(weight, dtype=torch.float32) if want_grad and ctx.needs_input_grad[1]
                           else None)  # the first chunk's product fills it
            # one set of buffers for every chunk: no allocation per chunk, so the heap does not fragment
            rows = min(chunk, hidden.shape[0])
            scores = torch.empty(rows, w.shape[0], dtype=torch.float32, device=hidden.device)
            scores_low = torch.empty(rows, w.shape[0], dtype=dtype, device=hidden.device) if low else None
            partial = torch.empty_like(w) if low and grad_weight is not None else None
            for start in range(0, hidden.shape[0], chunk):
                h = hidden[start:start + chunk].to(dtype)
                t = targets[start:start + chunk]
                n = h.shape[0]
                scored = t != IGNORE_INDEX
                safe = torch.where(scored, t, 0).unsqueeze(1)
                # (chunk, vocab): the only vocabulary-wide tensor, chunk rows at a time
                if low:
                    logits = scores[:n].copy_(torch.mm(h, w.T, out=scores_low[:n]))
                else:
                    logits = torch.mm(h, w.T, out=scores[:n])
                top = logits.amax(dim=1, keepdim=True)
                target_logit = logits.gather(1, safe)
                exp = logits.sub_(top).exp_()  # in place: the softmax's numerators, one pass over the chunk
                total_exp = exp.sum(dim=1, keepdim=True)
                # -ln softmax(logits)[target] = ln sum exp(logits - top) + top - logit[target]
                total += ((total_exp.log() + top - target_logit).squeeze(1) * scored).sum()
                if not want_grad:
                    continue
                # d loss / d logits = (softmax - one_hot(target)) / divisor at scored positions, 0 elsewhere
                weight_of_row = (scored / divisor).unsqueeze(1)
                grad = exp.mul_(weight_of_row / total_exp)
                grad.scatter_add_(1, safe, -weight_of_row)
                if low:
                    grad = scores_low[:n].copy_(grad)
                if grad_hidden is not None:
                    grad_hidden[start:start + n] = grad @ w
                if grad_weight is not None:
                    if low:  # the product in low precision, summed over chunks in fp32
                        torch.mm(grad.T, h, out=partial)
                        grad_weight.add_(partial) if start else grad_weight.copy_(partial)
                    else:
                        grad_weight.addmm_(grad.T, h, beta=1 if start else 0)
        ctx.save_for_backward(grad_hidden, grad_weight)
        return total / divisor

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight = ctx.saved_tensors
        if bool(grad_output != 1):  # the loss was scaled (gradient accumulation, loss scaling): so are they
            grad_hidden = None if grad_hidden is None else grad_hidden * grad_output
            grad_weight = None if grad_weight is None else grad_weight * grad_output
        if grad_weight is not None:
            grad_weight = grad_weight.to(ctx.weight_dtype)  # no copy when the weights are fp32
        return grad_hidden, grad_weight, None, None, None, None, None


def causal_lm_loss(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                   num_items_in_batch: int | torch.Tensor | None = None, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """The model's causal-LM loss (mean -ln p of each true next token, in nats) from its last hidden state
    ``hidden`` (batch, positions, width) and output-layer ``weight`` (vocabulary, width), ``chunk`` positions at a
    time. ``labels`` are the inputs, as the collator gives them (-100 = not scored); like the model, the loss sums
    over positions and divides by ``num_items_in_batch`` when the Trainer passes it, else by the scored count.

    Under autocast the projection runs in the autocast dtype (bf16 on a CPU that has it), the softmax in fp32,
    as the model's own loss does.
    """
    if hidden.dim() != 3 or labels.shape != hidden.shape[:2] or weight.dim() != 2 or weight.shape[1] != hidden.shape[2]:
        raise ValueError(f"Expected hidden (batch, positions, width), weight (vocabulary, width) and labels (batch, "
                         f"positions); got {tuple(hidden.shape)}, {tuple(weight.shape)} and {tuple(labels.shape)}.")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a whole number of positions, at least 1, got {chunk!r}.")
    targets = shifted_targets(labels).reshape(-1).to(hidden.device)
    device = hidden.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
    divisor = num_items_in_batch if num_items_in_batch is not None else (targets != IGNORE_INDEX).sum()
    divisor = torch.as_tensor(divisor, dtype=torch.float32, device=hidden.device).clamp(min=1)
    want_grad = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    return _LinearCrossEntropy.apply(hidden.reshape(-1, hidden.shape[-1]), weight, targets, divisor, chunk, dtype,
                                     want_grad)


def megabytes_kept_for_backward(compute, parameters=()) -> tuple[torch.Tensor, float]:
    """(``compute()``'s result, detached, and the MB of tensors autograd kept from it for a backward pass), counting
    each storage once and leaving out ``parameters`` (the weights are there anyway). Only a measurement: the graph
    and everything it kept are freed, and handed back to the OS, before returning (no backward pass follows)."""
    release_freed_memory()  # start from what the kernel really holds: earlier work's freed pages do not add to the peak
    weights = {p.untyped_storage().data_ptr() for p in parameters}
    kept: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            kept[storage.data_ptr()] = storage.nbytes()
        # detached: a node that saves its own output would otherwise refer to itself, and the graph never be freed
        return tensor.detach()

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = compute()
    detached, megabytes = result.detach(), sum(kept.values()) / 2**20
    del result  # the graph, and everything it kept
    release_freed_memory()  # the kernel stays open: give the freed peak back to the OS
    return detached, megabytes
