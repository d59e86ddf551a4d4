"""Reference solutions to notebook 1's exercises (for instructors; ``make solutions`` checks them).

``SOLUTIONS``: the answer cell's nbformat id -> (the code that goes into it, text its check cell then prints).
How the code is written, and turned into a cell: see ``__init__.py``.
"""

from typing import TYPE_CHECKING

import torch

from . import body, cell

if TYPE_CHECKING:  # what the notebook has defined when its answer cells run
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from utils.fill_mask import fill_mask

    model: PreTrainedModel = ...
    tokenizer: PreTrainedTokenizerBase = ...
    logits: torch.Tensor = ...  # the masked sentence's scores, (1, positions, vocabulary)
    mask_index: int = ...  # the position of its blank
    probabilities: torch.Tensor = ...  # the softmax of the blank's scores
    top: torch.return_types.topk = ...  # their top 5
    emb = layers = mlm_head = ...  # exercise 11's weights: the embeddings', every layer's, the MLM head's


def the_vocabulary():
    global my_pad_id, my_unk_id, my_continuations
    vocabulary = tokenizer.get_vocab()
    my_pad_id = vocabulary[tokenizer.pad_token]  # BERT's [PAD]
    my_unk_id = vocabulary[tokenizer.unk_token]  # BERT's [UNK]
    my_continuations = sum(entry.startswith("##") for entry in vocabulary)


def my_wordpiece(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        piece = None
        for end in range(len(word), start, -1):  # the longest candidate first
            candidate = ("##" if start else "") + word[start:end]  # a piece after the first continues the word
            if candidate in vocab:
                piece = candidate
                break
        if piece is None:
            return ["[UNK]"]  # no piece fits: the whole word is unknown
        pieces.append(piece)
        start = end
    return pieces


def my_embeddings(input_ids, emb):
    positions = torch.arange(emb.first_position, emb.first_position + len(input_ids))  # one row per token
    x = emb.token[input_ids] + emb.position[positions] + emb.segment[0]  # sentence A's segment for every token
    return torch.nn.functional.layer_norm(x, x.shape[-1:], emb.norm_weight, emb.norm_bias, emb.norm_eps)


def guess_the_blank():
    global my_guess
    my_guess = "box"


def my_softmax(z):
    e = torch.exp(z - z.max())  # subtracting the largest score changes nothing, and nothing overflows
    return e / e.sum()


def my_mlm_head(h, head):
    x = head.activation(h @ head.dense_weight.T + head.dense_bias)  # the dense layer, then GELU (in BERT)
    mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, correction=0)  # LayerNorm divides by n, not n - 1
    x = (x - mean) / torch.sqrt(var + head.norm_eps)
    x = x * head.norm_weight + head.norm_bias
    return x @ head.decoder_weight.T + head.decoder_bias  # one dot product per vocabulary entry


def loss_at_the_blank():
    global box_id, my_loss
    box_id = tokenizer(" box", add_special_tokens=False)["input_ids"][0]
    my_loss = -torch.log(my_softmax(logits[0, mask_index])[box_id])


def the_top_5():
    global my_top5_mass, my_count_above
    my_top5_mass = top.values.sum().item()
    my_count_above = int((probabilities > 0.001).sum())


def two_blanks():
    global my_same_word
    my_same_word = True  # one pass: neither blank sees the other's word, so both may take the likeliest one


def my_fill_in_turn(text):
    words = []
    while tokenizer.mask_token in text:
        word = fill_mask(model, tokenizer, text, top_k=1)[0][0][0]  # the first blank's top word
        text = text.replace(tokenizer.mask_token, word, 1)
        words.append(word)
    return words


def a_sentence_of_your_own():
    global my_sentence, my_word
    my_sentence = f"The capital of France is {tokenizer.mask_token}."
    my_word = "Paris"


def words_after_the_blank():
    global my_text, my_blank_changes
    my_text = f"Life is like a {tokenizer.mask_token} of paper."  # a piece of paper: the top word can change
    my_blank_changes = True  # every token attends to every other: the blank reads the words after it


def under_the_causal_mask():
    global my_causal_changes
    my_causal_changes = False  # the blank sees only [CLS], "life is like a" and itself, the same in both sentences


def my_causal_mask(n):
    later = torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)  # row i, column j > i: a token after i
    return torch.zeros(1, 1, n, n, dtype=model.dtype).masked_fill(later, torch.finfo(model.dtype).min)


def my_masked_map(x, parts, mask):
    q = x @ parts.W_q + parts.b_q  # every token's query, one row each: (n, d)
    k = x @ parts.W_k + parts.b_k  # every token's key: (n, d)
    return (q @ k.T / parts.size ** 0.5 + mask[0, 0]).softmax(-1)  # (n, n): the mask's matrix, before the softmax


def predict_the_toy_row():
    global my_toy_pick
    my_toy_pick = 2  # key (3, 0) along query (1, 0) scores 3; the token's own key (1, 0) scores 1


def my_attention_row(x, parts, position):
    q = x[position] @ parts.W_q + parts.b_q  # the blank's query, (d,)
    k = x @ parts.W_k + parts.b_k  # every token's key, (n, d)
    return (k @ q / parts.size ** 0.5).softmax(-1)  # one weight per token, adding up to 1


def my_head_output(x, parts, position):
    v = x @ parts.W_v + parts.b_v  # every token's value, (n, d)
    return my_attention_row(x, parts, position) @ v  # the row's weights times the values, added up: (d,)


def my_layer_output(x, layer_parts, position):
    p, norm, size = layer_parts, torch.nn.functional.layer_norm, x.shape[-1:]
    o = torch.cat([my_head_output(x, head, position) for head in p.heads])  # every head's output, side by side
    a = norm(x[position] + o @ p.W_o + p.b_o, size, p.norm1_weight, p.norm1_bias, p.norm_eps)  # attention's half
    ffn = p.activation(a @ p.W_in + p.b_in) @ p.W_out + p.b_out  # the feed-forward network, on a alone
    return norm(a + ffn, size, p.norm2_weight, p.norm2_bias, p.norm_eps)


def my_bert(input_ids, position):
    x = my_embeddings(input_ids, emb)  # each token's first vector, (n, hidden)
    for parts in layers:  # each layer reads every position of the layer before
        x = torch.stack([my_layer_output(x, parts, p) for p in range(len(x))])
    return my_mlm_head(x[position], mlm_head)  # the scores at the position asked for


def my_mask_tokens(input_ids):
    inputs, labels = input_ids.clone(), input_ids.clone()
    special = torch.isin(input_ids, torch.tensor(tokenizer.all_special_ids))
    picked = (torch.rand(input_ids.shape) < 0.15) & ~special
    labels[~picked] = -100  # only the picked positions are scored
    roll = torch.rand(input_ids.shape)  # one number per position splits the picked ones 80/10/10
    inputs[picked & (roll < 0.8)] = tokenizer.mask_token_id
    shown_random = picked & (roll >= 0.8) & (roll < 0.9)
    inputs[shown_random] = torch.randint(len(tokenizer), input_ids.shape)[shown_random]
    return inputs, labels  # the last tenth (roll >= 0.9) stays as it was


def my_mlm_loss(logits, labels):
    keep = labels != -100  # the picked positions
    log_p = logits[keep].log_softmax(-1)  # (picked, vocabulary)
    return -log_p.gather(-1, labels[keep][:, None]).mean()


def the_unseen_sentences():
    global my_unseen_falls
    my_unseen_falls = False  # ten steps on eight sentences fit those; nothing says they carry over to others


SOLUTIONS = {
    "a09ae7aa": (body(the_vocabulary), "Correct:"),
    "5e8f1a02": (cell(my_wordpiece), "Correct:"),
    "e1c00003": (cell(my_embeddings), "Correct: your vectors equal hidden_states[0]"),
    "b5c2e7a3": (cell(my_mlm_head), "Correct:"),
    "c29": (cell(my_softmax), "Correct:"),
    "ee29f949": (body(guess_the_blank), "Your guess 'box': rank"),
    "bdc278aa": (body(loss_at_the_blank), "Correct:"),
    "c35": (body(the_top_5), "Correct:"),
    "c24b1e00": (body(two_blanks), "You predicted True: the blanks' first words are"),
    "6dfc6390": (cell(my_fill_in_turn), "Correct:"),
    # with bert-base-uncased "paris" is the first guess, with the offline stand-in it is in the top 5: both say this
    "c32": (body(a_sentence_of_your_own), "in its top 5"),
    "74d0a7a3": (body(words_after_the_blank), "You predicted True: the probabilities at the blank changed"),
    "d7a0c0b2": (body(predict_the_toy_row), "Right: token 2 gets row 1's largest weight"),
    "d7a0c003": (cell(my_attention_row), "Correct: your row equals the model's"),
    "d7a0c006": (cell(my_head_output), "Correct: your output equals what the head computed"),
    "7c295ca8": (cell(my_causal_mask), "Correct: your mask equals utils.fill_mask.causal_mask"),
    "7c295cab": (cell(my_masked_map), "Correct: your map equals the model's under the causal mask"),
    "9b3a0a15": (body(under_the_causal_mask), "Correct: with the causal mask the probabilities at the blank"),
    "d7a0c00a": (cell(my_layer_output), "Correct: your vector equals hidden_states"),
    "d7a0c00e": (cell(my_bert), "Correct: your BERT's"),
    "0b7f3d91": (cell(my_mask_tokens), "Correct:"),
    "2f9b6e3c": (cell(my_mlm_loss), "Correct:"),
    "c8d4a1eb": (body(the_unseen_sentences), "You predicted False: the unseen sentences went"),
}
