// OCPP-J charge points for the end-to-end tests of the OCPP-J endpoint
// (cmd/gridmetrics/ocppj_test.go), built on the ocpp-rpc client in strict
// mode: every CALL sent and every CALLRESULT received is checked against the
// official OCPP 1.6 / 2.0.1 JSON schemas.
//
//   node chargepoint.mjs <scenario> <endpoint> <identity> <password>
//
// endpoint is ws://host:port/ocpp/<tenant id>. Prints one JSON object on
// stdout: what the scenario saw. Exits non-zero when the scenario fails.
//
// Optional environment: CP_T0, the transaction's start in Unix
// milliseconds; CP_SIGNED, JSON {begin, end, publicKey}: OCMF records of
// the transaction's Begin and End readings and the hex key that signed them,
// which the session scenarios send as signed meter values.
import { RPCClient } from 'ocpp-rpc';

const [scenario, endpoint, identity, password] = process.argv.slice(2);

function client(protocol, pass = password) {
    return new RPCClient({
        endpoint, identity, password: pass, protocols: [protocol],
        strictMode: true, reconnect: false, callTimeoutMs: 15000,
    });
}

// Times a few minutes in the past, one per step, so that they are ordered
// and never ahead of the server's clock.
const t0 = process.env.CP_T0 ? Number(process.env.CP_T0) : Date.now() - 10 * 60 * 1000;
const signed = process.env.CP_SIGNED ? JSON.parse(process.env.CP_SIGNED) : null;

// OCPP 1.6 carries a signed record as a SignedData sampled value.
const signed16 = (record, context) => ({ value: record, format: 'SignedData', context, measurand: 'Energy.Active.Import.Register' });
// OCPP 2.0.1 carries it in signedMeterValue, base64, with the key.
const signed201 = (record) => ({
    signedMeterData: Buffer.from(record).toString('base64'), signingMethod: 'ECDSA-secp256r1-SHA256',
    encodingMethod: 'OCMF', publicKey: Buffer.from(signed.publicKey, 'hex').toString('base64'),
});
const at = (minutes) => new Date(t0 + minutes * 60 * 1000).toISOString();

async function session16(cli) {
    const out = {};
    out.boot = await cli.call('BootNotification', { chargePointVendor: 'Gridmetrics', chargePointModel: 'TestBox' });
    out.heartbeat = await cli.call('Heartbeat', {});
    out.status = await cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: at(0) });
    out.authorize = await cli.call('Authorize', { idTag: 'TAG-16' });
    out.start = await cli.call('StartTransaction', { connectorId: 1, idTag: 'TAG-16', meterStart: 1000, timestamp: at(0) });
    const transactionId = out.start.transactionId;
    out.meterValues = await cli.call('MeterValues', {
        connectorId: 1, transactionId,
        meterValue: [
            ...(signed ? [{ timestamp: at(0), sampledValue: [signed16(signed.begin, 'Transaction.Begin')] }] : []),
            { timestamp: at(1), sampledValue: [{ value: '1500', measurand: 'Energy.Active.Import.Register', unit: 'Wh' }, { value: '7.2', measurand: 'Power.Active.Import', unit: 'kW' }] },
            { timestamp: at(2), sampledValue: [{ value: '2000', measurand: 'Energy.Active.Import.Register', unit: 'Wh' }, { value: '7.2', measurand: 'Power.Active.Import', unit: 'kW' }] },
        ],
    });
    out.dataTransfer = await cli.call('DataTransfer', { vendorId: 'com.example' });
    out.firmware = await cli.call('FirmwareStatusNotification', { status: 'Idle' });
    out.diagnostics = await cli.call('DiagnosticsStatusNotification', { status: 'Idle' });
    const transactionData = signed ? { transactionData: [{ timestamp: at(3), sampledValue: [signed16(signed.end, 'Transaction.End')] }] } : {};
    out.stop = await cli.call('StopTransaction', { transactionId, idTag: 'TAG-16', meterStop: 3000, timestamp: at(3), reason: 'Local', ...transactionData });
    // A resent StopTransaction (the answer was lost) changes nothing.
    out.stopAgain = await cli.call('StopTransaction', { transactionId, idTag: 'TAG-16', meterStop: 3000, timestamp: at(3), reason: 'Local' });
    return out;
}

async function session201(cli) {
    const out = {};
    out.boot = await cli.call('BootNotification', { chargingStation: { model: 'TestBox', vendorName: 'Gridmetrics' }, reason: 'PowerUp' });
    out.heartbeat = await cli.call('Heartbeat', {});
    out.status = await cli.call('StatusNotification', { timestamp: at(0), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
    out.authorize = await cli.call('Authorize', { idToken: { idToken: 'TOKEN-201', type: 'ISO14443' } });
    const tx = { transactionId: 'TX-201-1' };
    const energy = (minutes, wh, record, context) => ({ timestamp: at(minutes), sampledValue: [{
        value: wh, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' },
        ...(signed && record ? { context, signedMeterValue: signed201(record) } : {}),
    }] });
    out.started = await cli.call('TransactionEvent', {
        eventType: 'Started', timestamp: at(0), triggerReason: 'Authorized', seqNo: 0,
        transactionInfo: { ...tx, chargingState: 'Charging' }, idToken: { idToken: 'TOKEN-201', type: 'ISO14443' },
        evse: { id: 1, connectorId: 1 }, meterValue: [energy(0, 5000, signed?.begin, 'Transaction.Begin')],
    });
    out.meterValues = await cli.call('MeterValues', { evseId: 1, meterValue: [energy(1, 5500), energy(2, 6000)] });
    out.notifyEvent = await cli.call('NotifyEvent', { generatedAt: at(2), seqNo: 0, eventData: [{ eventId: 1, timestamp: at(2), trigger: 'Delta', actualValue: 'x', eventNotificationType: 'HardWiredNotification', component: { name: 'EVSE' }, variable: { name: 'Power' } }] });
    out.security = await cli.call('SecurityEventNotification', { type: 'StartupOfTheDevice', timestamp: at(2) });
    out.log = await cli.call('LogStatusNotification', { status: 'Idle' });
    out.firmware = await cli.call('FirmwareStatusNotification', { status: 'Idle' });
    out.ended = await cli.call('TransactionEvent', {
        eventType: 'Ended', timestamp: at(3), triggerReason: 'EVCommunicationLost', seqNo: 1,
        transactionInfo: { ...tx, chargingState: 'Idle', stoppedReason: 'EVDisconnected' }, meterValue: [energy(3, 7000, signed?.end, 'Transaction.End')],
    });
    return out;
}

// reconnect16: a transaction starts on one connection; the charger
// connects again (its old connection half-dead) and stops it there. The
// old connection must be closed by the server.
async function reconnect16() {
    const out = {};
    const first = client('ocpp1.6');
    const closed = new Promise((resolve) => first.once('close', (e) => resolve(e)));
    await first.connect();
    await first.call('BootNotification', { chargePointVendor: 'Gridmetrics', chargePointModel: 'TestBox' });
    out.start = await first.call('StartTransaction', { connectorId: 1, idTag: 'TAG-R', meterStart: 0, timestamp: at(0) });
    const second = client('ocpp1.6');
    await second.connect();
    const e = await Promise.race([closed, new Promise((r) => setTimeout(() => r(null), 5000))]);
    out.oldClosed = e ? { code: e.code, reason: String(e.reason ?? '') } : null;
    out.boot = await second.call('BootNotification', { chargePointVendor: 'Gridmetrics', chargePointModel: 'TestBox' });
    out.stop = await second.call('StopTransaction', { transactionId: out.start.transactionId, meterStop: 2500, timestamp: at(2), reason: 'Local' });
    await second.close();
    return out;
}

async function main() {
    switch (scenario) {
    case 'session16':
    case 'session201': {
        const cli = client(scenario === 'session16' ? 'ocpp1.6' : 'ocpp2.0.1');
        await cli.connect();
        const out = await (scenario === 'session16' ? session16 : session201)(cli);
        out.protocol = cli.protocol;
        await cli.close();
        return out;
    }
    case 'reconnect16':
        return reconnect16();
    case 'connect': {
        // Connects and reports the refusal, if any.
        const cli = client('ocpp1.6');
        try {
            await cli.connect();
        } catch (err) {
            return { refused: String(err.message ?? err), status: err.code };
        }
        await cli.close();
        return { connected: true };
    }
    }
    throw new Error(`unknown scenario ${scenario}`);
}

main().then((out) => {
    process.stdout.write(JSON.stringify(out) + '\n');
    process.exit(0);
}, (err) => {
    process.stdout.write(JSON.stringify({ error: String(err?.stack ?? err), rpcCode: err?.rpcErrorCode, details: err?.details }) + '\n');
    process.exit(1);
});
