"""`image_file` parts reach the model as data URLs of the uploaded bytes."""

from __future__ import annotations

import base64

import openai

from tests.support.files import upload
from tests.support.upstream import ScriptedUpstream, Text

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_image_files_become_data_urls(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    image_id = upload(client, "pixel.png", PNG)
    text_id = upload(client, "notes.txt", b"not an image")
    assistant_id = client.beta.assistants.create(model="gpt-4o").id
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_file", "image_file": {"file_id": image_id, "detail": "low"}},
                    {"type": "image_file", "image_file": {"file_id": text_id}},
                ],
            }
        ]
    )
    model.push(Text("A pixel."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, poll_interval_ms=20
    )
    assert run.status == "completed"
    user = model.requests[-1]["messages"][-1]
    assert user["content"] == [
        {"type": "text", "text": "What is in these?"},
        {
            "type": "image_url",
            "image_url": {
                "url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
                "detail": "low",
            },
        },
        {"type": "text", "text": f"[image file {text_id} is not available]"},
    ]
