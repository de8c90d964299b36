// Coffer's nodejs* runtime: runs one invocation of a Lambda-style handler, then exits.
//
//   node bootstrap.js EVENT_FILE RESULT_FILE REQUEST_ID DEADLINE_UNIX_MS FUNCTION_ARN
//
// The handler ("file.export", from _HANDLER) is required from the code directory (LAMBDA_TASK_ROOT) as CommonJS
// (file.js or file.cjs; ES modules (.mjs) are not supported). Async handlers (returning a promise) and
// callback-style handlers (event, context, callback) both work. The result or an error object
// {"errorMessage", "errorType", "stackTrace"} to RESULT_FILE.error; stdout and stderr stay the function's log.
'use strict';
const fs = require('fs');
const path = require('path');

const [eventFile, resultFile, requestId = '', deadlineArg, functionArn = ''] = process.argv.slice(2);
const deadline = Number(deadlineArg) || Date.now() + 3000;
let written = false;

function write(obj, file = resultFile) {
  if (written) return;
  written = true;
  let text;
  try {
    text = JSON.stringify(obj === undefined ? null : obj);
  } catch (e) {
    text = JSON.stringify({ errorMessage: 'Unable to stringify response body', errorType: 'Runtime.MarshalError', stackTrace: [] });
  }
  fs.writeFileSync(file, text);
}

function writeError(obj) {
  write(obj, resultFile + '.error');
}

function errorObject(err) {
  if (err instanceof Error) {
    return { errorType: err.name || 'Error', errorMessage: err.message, trace: String(err.stack || '').split('\n') };
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

function finish(err, result) {
  if (err !== undefined && err !== null) {
    console.error(err instanceof Error ? err.stack : String(err));
    writeError(errorObject(err));
  } else {
    write(result);
  }
  process.exit(0);
}

const context = {
  awsRequestId: requestId,
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || '',
  functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION || '$LATEST',
  invokedFunctionArn: functionArn,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || '128',
  logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME || '',
  logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME || '',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  done: (err, result) => finish(err, result),
  succeed: (result) => finish(null, result),
  fail: (err) => finish(err),
};

process.on('uncaughtException', (err) => finish(err));
process.on('unhandledRejection', (err) => finish(err));

function main() {
  const handlerName = process.env._HANDLER || '';
  const dot = handlerName.lastIndexOf('.');
  if (dot <= 0 || dot === handlerName.length - 1) {
    writeError({ errorType: 'Runtime.MalformedHandlerName', errorMessage: `Bad handler ${handlerName}`, trace: [] });
    process.exit(0);
  }
  const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const file = path.resolve(taskRoot, handlerName.slice(0, dot));
  let mod;
  try {
    mod = require(fs.existsSync(file + '.cjs') && !fs.existsSync(file + '.js') ? file + '.cjs' : file);
  } catch (e) {
    const missing = e && e.code === 'MODULE_NOT_FOUND';
    writeError({
      errorType: missing ? 'Runtime.ImportModuleError' : 'Runtime.UserCodeSyntaxError',
      errorMessage: missing ? `Error: Cannot find module '${handlerName.slice(0, dot)}'` : String(e && e.message),
      trace: String((e && e.stack) || '').split('\n'),
    });
    process.exit(0);
  }
  const handler = handlerName.slice(dot + 1).split('.').reduce((o, k) => (o == null ? undefined : o[k]), mod);
  if (typeof handler !== 'function') {
    writeError({ errorType: 'Runtime.HandlerNotFound', errorMessage: `${handlerName} is undefined or not exported`, trace: [] });
    process.exit(0);
  }
  const raw = fs.readFileSync(eventFile, 'utf8');
  const event = raw.trim() ? JSON.parse(raw) : {};
  const returned = handler(event, context, (err, result) => finish(err, result));
  if (returned && typeof returned.then === 'function') {
    returned.then((result) => finish(null, result), (err) => finish(err === undefined ? new Error('undefined') : err));
  } else if (handler.length < 3) {
    // A synchronous handler that takes no callback: its return value is the result.
    finish(null, returned);
  }
}

try {
  main();
} catch (e) {
  finish(e);
}
