// tests/peer/smsc.js — an operator's SMSC built on the npm package `smpp`
// (node-smpp, written by someone else), so that kyzmat's integration tests
// have at least one peer whose bugs are not ours.
//
// Usage: node smsc.js [--port N] [--system-id ID] [--password PW] [--throttle-every N]
// Prints one JSON object per line on stdout: {"event":"listening","port":N}
// first, then bind / enquire_link / submit_sm / deliver_sm_resp / unbind /
// close events.  Reads commands from stdin, one per line:
//   mo FROM TO TEXT      send an MO deliver_sm (UCS-2 if TEXT is not ASCII)
//   ussd FROM TO OP SESSION SEQ TEXT
//                        send a USSD deliver_sm: ussd_service_op OP,
//                        its_session_info (SESSION, SEQ), UCS-2 if not ASCII
//   enquire              send an enquire_link to every bound session
//   close                close every session
// Test use only; binds only to 127.0.0.1.
'use strict';
const smpp = require('smpp');
const readline = require('readline');

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
}
const port = parseInt(opt('--port', '0'), 10);
const systemId = opt('--system-id', 'kyzmat');
const password = opt('--password', 'secret');
const throttleEvery = parseInt(opt('--throttle-every', '0'), 10);

function emit(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

const bound = new Set();

let msgId = 1000;
let submits = 0;

const server = smpp.createServer(function (session) {
  session.on('error', function (e) { emit({ event: 'error', message: String(e && e.message) }); });
  session.on('close', function () { bound.delete(session); emit({ event: 'close' }); });
  const onBind = function (pdu) {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      emit({ event: 'bind_refused', system_id: pdu.system_id, command: pdu.command });
      session.send(pdu.response({ command_status: pdu.system_id !== systemId ? smpp.ESME_RINVSYSID : smpp.ESME_RINVPASWD }));
      return;
    }
    bound.add(session);
    emit({ event: 'bind', system_id: pdu.system_id, command: pdu.command, interface_version: pdu.interface_version });
    session.send(pdu.response({ system_id: 'nodesmsc' }));
  };
  session.on('bind_transceiver', onBind);
  session.on('bind_transmitter', onBind);
  session.on('bind_receiver', onBind);
  session.on('enquire_link', function (pdu) {
    emit({ event: 'enquire_link' });
    session.send(pdu.response());
  });
  session.on('unbind', function (pdu) {
    emit({ event: 'unbind' });
    session.send(pdu.response());
    session.close();
  });
  session.on('submit_sm', function (pdu) {
    submits++;
    if (throttleEvery > 0 && submits % throttleEvery === 0) {
      emit({ event: 'submit_sm_throttled' });
      session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      return;
    }
    const sm = pdu.short_message;
    emit({
      event: 'submit_sm', source: pdu.source_addr, dest: pdu.destination_addr,
      data_coding: pdu.data_coding, service_type: pdu.service_type,
      text: sm && typeof sm === 'object' && 'message' in sm ? String(sm.message) : null,
      ussd_service_op: pdu.ussd_service_op, its_session_info: pdu.its_session_info,
    });
    session.send(pdu.response({ message_id: String(msgId++) }));
  });
  session.on('deliver_sm_resp', function (pdu) {
    emit({ event: 'deliver_sm_resp', status: pdu.command_status, seq: pdu.sequence_number });
  });
  session.on('generic_nack', function (pdu) {
    emit({ event: 'generic_nack', status: pdu.command_status, seq: pdu.sequence_number });
  });
});

server.on('error', function (e) { emit({ event: 'server_error', message: String(e.message) }); process.exit(1); });
server.listen(port, '127.0.0.1', function () {
  emit({ event: 'listening', port: server.address().port });
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', function (line) {
  const parts = line.trim().split(' ');
  const cmd = parts[0];
  if (cmd === 'mo') {
    const from = parts[1], to = parts[2], text = parts.slice(3).join(' ');
    // eslint-disable-next-line no-control-regex
    const ascii = /^[\x20-\x7e]*$/.test(text);
    const buf = ascii ? Buffer.from(text, 'latin1') : Buffer.from(text, 'utf16le').swap16();
    let n = 0;
    for (const s of bound) {
      s.deliver_sm({
        source_addr: from, destination_addr: to, esm_class: 0,
        data_coding: ascii ? 0 : 8, short_message: buf,
      });
      n++;
    }
    emit({ event: 'mo_sent', sessions: n });
  } else if (cmd === 'ussd') {
    const from = parts[1], to = parts[2], op = parseInt(parts[3], 10);
    const session = parseInt(parts[4], 10), seq = parseInt(parts[5], 10);
    const text = parts.slice(6).join(' ');
    // eslint-disable-next-line no-control-regex
    const ascii = /^[\x20-\x7e]*$/.test(text);
    const buf = ascii ? Buffer.from(text, 'latin1') : Buffer.from(text, 'utf16le').swap16();
    for (const s of bound) {
      s.deliver_sm({
        service_type: 'USSD', source_addr: from, destination_addr: to,
        data_coding: ascii ? 0 : 8, short_message: buf,
        ussd_service_op: op, its_session_info: Buffer.from([session, seq << 1]),
      });
    }
    emit({ event: 'ussd_sent' });
  } else if (cmd === 'enquire') {
    for (const s of bound) s.enquire_link();
  } else if (cmd === 'close') {
    for (const s of bound) s.close();
  }
});
rl.on('close', function () { process.exit(0); });
