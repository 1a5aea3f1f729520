"""The GGUF chat template renderer: ChatML by default, the model's own template in jinja2's
sandbox, and its errors."""

from __future__ import annotations

import pytest

from assistantd.providers.chat_template import ChatTemplate, ChatTemplateError

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


def test_without_a_template_the_prompt_is_chatml() -> None:
    prompt = ChatTemplate(None, bos_token="<s>", eos_token="</s>").render(MESSAGES)
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_the_template_gets_the_special_tokens_and_transformers_helpers() -> None:
    source = (
        "{{ bos_token }}{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}"
        "{{ m | tojson }}{% endfor %}{% if add_generation_prompt %}>{% endif %}{{ eos_token }}"
    )
    template = ChatTemplate(source, bos_token="<s>", eos_token="</s>")
    prompt = template.render([{"role": "user", "content": "café"}, *MESSAGES])
    assert prompt == '<s>{"role": "user", "content": "café"}></s>'


def test_a_template_that_refuses_the_conversation_is_an_error() -> None:
    source = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('user first') }}{% endif %}"
    with pytest.raises(ChatTemplateError, match="user first"):
        ChatTemplate(source, bos_token="", eos_token="").render(MESSAGES)


def test_the_sandbox_keeps_a_template_away_from_python_internals() -> None:
    source = "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(ChatTemplateError, match="failed"):
        ChatTemplate(source, bos_token="", eos_token="").render(MESSAGES)


def test_a_template_that_is_not_jinja_is_an_error() -> None:
    with pytest.raises(ChatTemplateError, match="not valid"):
        ChatTemplate("{% for %}", bos_token="", eos_token="")
