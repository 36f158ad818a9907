#!/usr/bin/env python3
"""A pymodbus 3.x slave with known register contents, the independent peer of wardstream's
Modbus driver tests (protocols/tests/modbus_*.rs).

    modbus_peer.py tcp PORT        Modbus TCP on 127.0.0.1:PORT
    modbus_peer.py rtu PTY_PATH    Modbus RTU, 9600 8N1, on a serial port or pty

Prints "ready" on stdout once it listens. Units 1-4 hold the same values in the four byte
orders (1 ABCD, 2 CDAB, 3 BADC, 4 DCBA), encoded here with Python's struct, independently of
the Rust decoder:

    holding  0      u16  51234             holding  6-7    f32  36.6
    holding  1      i16  -12345            holding  8-11   u64  1234567890123456
    holding  2-3    u32  3000000123        holding 12-15   i64  -1234567890123
    holding  4-5    i32  -2000000123       holding 16-19   f64  98.76543210123

Unit 1 also has: holding 20 IEEE 11073 SFLOAT 36.6 (0xF16E), 21-22 FLOAT 37.2 (0xFF000174),
23 i16 raw 37 (scaled by the test), 24 i16 0x8000 (no-value marker), 25-26 f32 NaN,
27 u16 0xFFFF; holding 50 answers exception 0x0B (gateway target failed to respond); every
other unmapped address exception 0x02. All units: input register 0 = 1234, coils 0-2 =
1,0,1, discrete inputs 0-1 = 0,1.
"""

import asyncio
import logging
import socket
import struct
import sys

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

ORDERS = {1: "ABCD", 2: "CDAB", 3: "BADC", 4: "DCBA"}
TYPED = [  # (struct format, value) at consecutive holding registers from 0
    ("H", 51234),
    ("h", -12345),
    ("I", 3000000123),
    ("i", -2000000123),
    ("f", 36.6),
    ("Q", 1234567890123456),
    ("q", -1234567890123),
    ("d", 98.76543210123),
]


def words(fmt, value, order):
    """The registers of `value` packed big-endian, then reordered as `order` says."""
    raw = struct.pack(">" + fmt, value)
    regs = [raw[i:i + 2] for i in range(0, len(raw), 2)]
    if order in ("CDAB", "DCBA"):
        regs.reverse()
    if order in ("BADC", "DCBA"):
        regs = [r[::-1] for r in regs]
    return [int.from_bytes(r, "big") for r in regs]


def holding(unit):
    regs = []
    for fmt, value in TYPED:
        regs += words(fmt, value, ORDERS[unit])
    if unit == 1:
        regs += [0xF16E, 0xFF00, 0x0174, 37, 0x8000] + words("f", float("nan"), "ABCD") + [0xFFFF]
    return regs


async def gateway_at_50(function_code, _start, address, _count, _regs, _set_values):
    """Exception 0x0B for any request touching holding register 50."""
    if function_code == 3 and address <= 50 < address + _count:
        return ExcCodes.GATEWAY_NO_RESPONSE
    return None


def device(unit):
    hr = [SimData(0, values=holding(unit), datatype=DataType.REGISTERS)]
    if unit == 1:
        hr.append(SimData(50, values=[0], datatype=DataType.REGISTERS))
    return SimDevice(
        id=unit,
        simdata=(
            [SimData(0, values=[True, False, True], datatype=DataType.BITS)],
            [SimData(0, values=[False, True], datatype=DataType.BITS)],
            hr,
            [SimData(0, values=[1234], datatype=DataType.REGISTERS)],
        ),
        action=gateway_at_50 if unit == 1 else None,
    )


async def main(kind, where):
    devices = [device(unit) for unit in ORDERS]
    if kind == "tcp":
        port = int(where)
        server = ModbusTcpServer(devices, address=("127.0.0.1", port))
        task = asyncio.create_task(server.serve_forever())
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.05)
    else:
        server = ModbusSerialServer(devices, port=where, framer=FramerType.RTU, baudrate=9600)
        task = asyncio.create_task(server.serve_forever())
        while getattr(server, "transport", None) is None and not task.done():
            await asyncio.sleep(0.05)
    print("ready", flush=True)
    await task


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
