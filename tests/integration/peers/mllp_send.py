"""Sends HL7 v2 messages to an MLLP listener with the `hl7` package's MLLPClient (an MLLP client
not written by wardstream) over one connection, and prints one JSON line per ACK received.

Usage: mllp_send.py HOST PORT SPEC...

Each SPEC is a file path, optionally followed by `@CONTROL_ID`: the message's MSH-10 is then
replaced by CONTROL_ID before sending (the shared ADT samples all carry `MSG00001`). Line ends are
turned into HL7 segment separators (`\\r`). Each printed line holds the file name, the MSH-10 sent,
and MSA-1, MSA-2 and MSA-3 of the ACK as `hl7.parse` reads them.
"""

import json
import sys

import hl7
from hl7.client import MLLPClient

START, END = b"\x0b", b"\x1c\r"


def message(spec):
    path, _, control_id = spec.partition("@")
    data = open(path, "rb").read().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    if control_id and data.startswith(b"MSH"):
        first, sep, rest = data.partition(b"\r")
        fields = first.split(b"|")
        # fields[0] is "MSH" and fields[1] is MSH-2 (MSH-1 is the separator itself): MSH-10 is [9].
        fields[9] = control_id.encode()
        data = b"|".join(fields) + sep + rest
    sent = ""
    if data.startswith(b"MSH"):
        fields = data.partition(b"\r")[0].split(b"|")
        sent = fields[9].decode() if len(fields) > 9 else ""
    return path.rsplit("/", 1)[-1], sent, data


def receive_rest(client, ack):
    # MLLPClient.send reads once; a frame split across TCP reads is completed here.
    while not ack.endswith(END):
        more = client.socket.recv(4096)
        if not more:
            raise SystemExit("connection closed inside an ACK frame")
        ack += more
    return ack


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    with MLLPClient(host, port) as client:
        for spec in sys.argv[3:]:
            name, sent, data = message(spec)
            ack = receive_rest(client, client.send_message(data))
            if not ack.startswith(START):
                raise SystemExit(f"ACK for {name} is not an MLLP frame: {ack!r}")
            parsed = hl7.parse(ack[1:-2].decode("latin-1"))
            msa = parsed.segment("MSA")
            field = lambda n: str(msa[n]) if len(msa) > n else ""
            print(json.dumps({
                "file": name,
                "sent_control_id": sent,
                "ack_type": str(parsed.segment("MSH")[9]),
                "code": field(1),
                "control_id": field(2),
                "text": field(3),
            }), flush=True)


if __name__ == "__main__":
    main()
