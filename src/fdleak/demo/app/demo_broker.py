"""kombu's filesystem transport, with messages that appear whole.

kombu writes a message file in place, under its final name, so a worker polling the
queue folder can take it while it is still empty and fail on it (JSONDecodeError).
Here a message is written under a hidden name and renamed into place, which is atomic.
"""

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        hidden = os.path.join(self.data_folder_out, f".{name}.part")
        with open(hidden, "wb") as message:
            message.write(dumps(payload).encode())
        os.rename(hidden, final)


class Transport(filesystem.Transport):
    Channel = Channel
