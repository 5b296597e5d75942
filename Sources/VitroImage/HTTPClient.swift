// Chapter 01: HTTP over libcurl, one thread, many transfers at once.
//
// An `HTTPExchange` is one logical request: what a caller wants (a manifest, a blob),
// which may take several HTTP requests to get. The client follows redirects itself,
// rather than letting curl do it, so that it can drop the Authorization header when a
// redirect leaves the registry's host (a blob is often served by a storage bucket that
// must not see the registry token). It retries a connection failure, a 429 and a 5xx a
// few times with exponential backoff, and on a 401 asks the exchange's `reauthorize`
// once for a fresh token. Every HTTP request made is one trace event (group registry)
// with the URL, status and bytes, and the `curl` command that would make it, secrets
// replaced by shell variables.
//
// Transfers run concurrently on curl's multi interface, driven by `perform` in the
// calling thread: curl_multi_perform moves every transfer along, curl_multi_poll
// sleeps until a socket is ready (or 100 ms pass, for the progress display), and a
// finished transfer is handed to its exchange's `onFinish`. If that throws (a digest
// mismatch, say), every other transfer is stopped and `perform` throws it.

import CCurl
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// Receives a successful (2xx) response body as it arrives.
public protocol BodySink: AnyObject {
    /// Called before the first byte, and again when a retry starts the body over.
    func begin() throws
    func write(_ chunk: UnsafeRawBufferPointer) throws
}

/// Keeps a small body in memory, refusing more than `limit` bytes.
public final class BufferSink: BodySink {
    public private(set) var bytes: [UInt8] = []
    let limit: Int
    let what: String
    public init(limit: Int, what: String) {
        self.limit = limit
        self.what = what
    }
    public func begin() throws { bytes.removeAll(keepingCapacity: true) }
    public func write(_ chunk: UnsafeRawBufferPointer) throws {
        guard bytes.count + chunk.count <= limit else { throw ImageError("\(what): larger than \(limit) bytes") }
        bytes.append(contentsOf: chunk)
    }
}

public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    /// Headers other than Authorization, as "Name: value".
    public var headers: [String]
    /// Sent only to the host the request started on.
    public var authorization: String?
    /// One sentence for the trace.
    public var why: String
    /// What the body is, for the curl command (`@layer.tar.gz`); nil: no body.
    public var bodyName: String?

    public init(method: String = "GET", url: String, headers: [String] = [], authorization: String? = nil, why: String, bodyName: String? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.authorization = authorization
        self.why = why
        self.bodyName = bodyName
    }

    /// The curl command line for this request, with secrets as shell variables.
    public var curlCommand: String {
        var words = ["curl", "-sS"]
        if method == "HEAD" { words.append("-I") }
        if method != "GET" && method != "HEAD" { words += ["-X", method] }
        if let bodyName { words += ["--data-binary", "@" + bodyName] }
        var line = Sys.shellLine(words)
        for h in headers { line += " -H " + Sys.shellQuote(h) }
        if let a = authorization {
            line += a.hasPrefix("Basic ") ? " -u \"$REGISTRY_USER:$REGISTRY_PASSWORD\"" : " -H \"Authorization: Bearer $TOKEN\""
        }
        return line + " " + Sys.shellQuote(url)
    }
}

public struct HTTPResponse: Sendable {
    public var status = 0
    /// The headers of the final response, in order, names as sent.
    public var headers: [(name: String, value: String)] = []
    /// The body of a response that was not 2xx (an error document), up to 64 KiB.
    public var errorBody: [UInt8] = []
    /// Bytes of the body received.
    public var bytes: Int64 = 0
    /// The URL that gave this response (after redirects).
    public var url = ""

    /// The first header of that name (names compare without case).
    public func header(_ name: String) -> String? { allHeaders(name).first }
    public func allHeaders(_ name: String) -> [String] {
        let n = name.lowercased()
        return headers.filter { $0.name.lowercased() == n }.map(\.value)
    }
}

public final class HTTPExchange {
    public internal(set) var request: HTTPRequest
    let sink: BodySink?
    /// On a 401: the challenges in, a new Authorization value out (nil: give up).
    var reauthorize: (([AuthChallenge]) throws -> String?)?
    /// Called once the exchange is over, whatever its outcome. Throwing stops `perform`.
    var onFinish: ((HTTPExchange) throws -> Void)?

    /// The final response (nil when the exchange failed without one).
    public internal(set) var response: HTTPResponse?
    /// Why it failed without a response: a connection error or the sink's error.
    public internal(set) var error: (any Error)?
    /// Body bytes received by the attempt in progress (for progress bars).
    public internal(set) var received: Int64 = 0
    /// The Content-Length of the attempt in progress, when known.
    public internal(set) var expected: Int64?
    public internal(set) var finished = false

    var attempts = 0
    var redirects = 0
    var reauthorized = false
    var notBefore: UInt64 = 0
    var note = ""

    // The attempt in progress.
    var handle: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var current = HTTPResponse()
    var attemptStart: UInt64 = 0
    var sinkError: (any Error)?
    var began = false

    /// A request body (an upload): `size` bytes from a source made afresh for each
    /// attempt, so that a retry or a 401 sends it again from the start.
    public var body: (size: Int64, open: () throws -> any ByteSource)?
    var bodySource: (any ByteSource)?
    /// Bytes of the body sent by the attempt in progress (for progress lines).
    public internal(set) var sent: Int64 = 0

    public init(_ request: HTTPRequest, sink: BodySink? = nil) {
        self.request = request
        self.sink = sink
    }

    /// Body bytes for curl; false stops the transfer.
    func send(_ buffer: UnsafeMutableRawBufferPointer) -> Int? {
        guard let source = bodySource else { return 0 }
        do {
            let n = try source.read(into: buffer)
            sent += Int64(n)
            return n
        } catch {
            sinkError = error
            return nil
        }
    }

    /// A body chunk from curl; false stops the transfer.
    func receive(_ chunk: UnsafeRawBufferPointer) -> Bool {
        guard (200..<300).contains(current.status) else {
            if current.errorBody.count < 65536 { current.errorBody.append(contentsOf: chunk.prefix(65536 - current.errorBody.count)) }
            return true
        }
        do {
            if !began {
                began = true
                try sink?.begin()
            }
            try sink?.write(chunk)
            current.bytes += Int64(chunk.count)
            received = current.bytes
            return true
        } catch {
            sinkError = error
            return false
        }
    }

    /// A header line from curl. A status line starts a new response.
    func receiveHeader(_ line: String) {
        let l = line.trimmed
        if l.hasPrefix("HTTP/") {
            let parts = l.split(separator: " ")
            current.status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            current.headers = []
            return
        }
        guard let colon = l.firstIndex(of: ":") else { return }
        let name = String(l[..<colon])
        let value = String(l[l.index(after: colon)...]).trimmed
        current.headers.append((name, value))
        if name.lowercased() == "content-length", (200..<300).contains(current.status) { expected = Int64(value) }
    }
}

public final class HTTPClient {
    /// Attempts per request, the first included, before a transient failure is final.
    public var maxAttempts = 4
    /// The first retry waits this long; each further one twice as long.
    public var backoffMillis: UInt64 = 250
    let multi: UnsafeMutableRawPointer?

    /// Whether libcurl could be opened (it is loaded on first use, not linked).
    public static let available: Bool = ccurl_load() == 1

    public init() {
        guard Self.available else {
            multi = nil
            return
        }
        multi = ccurl_multi_init()
        precondition(multi != nil, "bug: libcurl could not make a multi handle")
        // Many layers from one registry share a few connections rather than opening one each.
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 6)
    }

    deinit { if multi != nil { ccurl_multi_cleanup(multi) } }

    /// Runs one exchange to its end.
    public func perform(_ exchange: HTTPExchange) throws {
        try perform([exchange])
    }

    /// Runs exchanges concurrently until all are over. `tick` runs every 100 ms or so.
    public func perform(_ exchanges: [HTTPExchange], tick: () -> Void = {}) throws {
        guard multi != nil else { throw ImageError("libcurl.so.4 could not be loaded (apt-get install libcurl4)") }
        var waiting = exchanges.filter { !$0.finished }
        var lastTick = MonotonicClock.now()
        var active: [HTTPExchange] = []
        defer {
            for x in active { stop(x) }
        }
        while !waiting.isEmpty || !active.isEmpty {
            let now = MonotonicClock.now()
            for x in waiting where x.notBefore <= now {
                try start(x)
                active.append(x)
            }
            waiting.removeAll { x in active.contains { $0 === x } }
            var running: Int32 = 0
            _ = ccurl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let msg = ccurl_multi_info_read(multi, &left) {
                guard msg.pointee.msg == CURLMSG_DONE,
                    let x = active.first(where: { $0.handle == msg.pointee.easy_handle })
                else { continue }
                let code = msg.pointee.data.result
                let again = try conclude(x, code: code)
                active.removeAll { $0 === x }
                if again {
                    waiting.append(x)
                } else if let f = x.onFinish {
                    try f(x)
                }
            }
            if waiting.isEmpty && active.isEmpty { break }
            if MonotonicClock.now() >= lastTick + 100_000_000 {
                lastTick = MonotonicClock.now()
                tick()
            }
            var timeout: Int32 = 100
            if active.isEmpty, let next = waiting.map(\.notBefore).min() {
                let now = MonotonicClock.now()
                timeout = next > now ? Int32(min((next - now) / 1_000_000 + 1, 100)) : 0
            }
            _ = ccurl_multi_poll(multi, nil, 0, timeout, nil)
        }
    }

    // MARK: one attempt

    private func start(_ x: HTTPExchange) throws {
        x.bodySource = try x.body?.open()
        guard let h = ccurl_easy_init() else { throw ImageError("\(x.request.url): libcurl could not make a handle") }
        x.handle = h
        x.current = HTTPResponse()
        x.current.url = x.request.url
        x.received = 0
        x.expected = nil
        x.sinkError = nil
        x.began = false
        x.attempts += 1
        x.attemptStart = MonotonicClock.now()
        var list: UnsafeMutablePointer<curl_slist>?
        for header in x.request.headers { list = ccurl_slist_append(list, header) }
        if let a = x.request.authorization { list = ccurl_slist_append(list, "Authorization: " + a) }
        // No "Expect: 100-continue" round trip before a big upload.
        if x.body != nil { list = ccurl_slist_append(list, "Expect:") }
        x.headerList = list
        let me = Unmanaged.passUnretained(x).toOpaque()
        _ = ccurl_setopt_string(h, CURLOPT_URL, x.request.url)
        _ = ccurl_setopt_string(h, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = ccurl_setopt_string(h, CURLOPT_USERAGENT, "vitro/0.1")
        if x.request.method == "HEAD" { _ = ccurl_setopt_long(h, CURLOPT_NOBODY, 1) }
        x.sent = 0
        if let body = x.body {
            // UPLOAD makes curl read the body from the callback (as a PUT, unless the
            // method says otherwise), INFILESIZE sends its Content-Length.
            _ = ccurl_setopt_long(h, CURLOPT_UPLOAD, 1)
            _ = ccurl_setopt_long(h, CURLOPT_INFILESIZE_LARGE, Int(body.size))
            _ = ccurl_setopt_callback(h, CURLOPT_READFUNCTION, onSend)
            _ = ccurl_setopt_pointer(h, CURLOPT_READDATA, me)
        } else if x.request.method == "POST" || x.request.method == "PUT" || x.request.method == "PATCH" {
            // No body: an empty one, with Content-Length: 0.
            _ = ccurl_setopt_long(h, CURLOPT_POST, 1)
            _ = ccurl_setopt_long(h, CURLOPT_POSTFIELDSIZE, 0)
        }
        if x.request.method != "GET" && x.request.method != "HEAD" {
            _ = ccurl_setopt_string(h, CURLOPT_CUSTOMREQUEST, x.request.method)
        }
        _ = ccurl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
        _ = ccurl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_setopt_long(h, CURLOPT_CONNECTTIMEOUT, 15)
        // A transfer that moves less than a byte a second for a minute has stalled.
        _ = ccurl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, 1)
        _ = ccurl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, 60)
        _ = ccurl_setopt_callback(h, CURLOPT_WRITEFUNCTION, onBody)
        _ = ccurl_setopt_pointer(h, CURLOPT_WRITEDATA, me)
        _ = ccurl_setopt_callback(h, CURLOPT_HEADERFUNCTION, onHeader)
        _ = ccurl_setopt_pointer(h, CURLOPT_HEADERDATA, me)
        _ = ccurl_multi_add_handle(multi, h)
    }

    private func stop(_ x: HTTPExchange) {
        if let h = x.handle {
            _ = ccurl_multi_remove_handle(multi, h)
            ccurl_easy_cleanup(h)
        }
        ccurl_slist_free_all(x.headerList)
        x.handle = nil
        x.headerList = nil
        x.bodySource = nil
    }

    /// Records the attempt and decides what follows. True: run the exchange again.
    private func conclude(_ x: HTTPExchange, code: CURLcode) throws -> Bool {
        var redirect: String?
        var osErrno = 0
        if let h = x.handle {
            var p: UnsafeMutablePointer<CChar>?
            if ccurl_getinfo_string(h, CURLINFO_REDIRECT_URL, &p) == CURLE_OK, let p { redirect = String(cString: p) }
            _ = ccurl_getinfo_long(h, CURLINFO_OS_ERRNO, &osErrno)
        }
        stop(x)
        let r = x.current
        let failed = code != CURLE_OK && x.sinkError == nil
        var args: Args = ["url": .string(x.request.url)]
        if !failed { args.append("status", .int(Int64(r.status))) }
        args.append("bytes", .int(r.bytes))
        if failed { args.append("error", .string(String(cString: ccurl_easy_strerror(code)))) }
        let errnoName: String? =
            failed ? (osErrno != 0 ? Errno.name(Int32(osErrno)) : code == CURLE_OPERATION_TIMEDOUT ? "ETIMEDOUT" : "EIO") : nil
        Tracer.shared.call(
            x.request.method, group: .registry, start: x.attemptStart, args: args, ret: failed ? -1 : Int64(r.status),
            errno: errnoName, why: x.request.why + x.note, shell: x.request.curlCommand)
        x.note = ""

        if let e = x.sinkError {
            return finish(x, error: e)
        }
        if failed {
            var message = "\(x.request.method) \(x.request.url): " + String(cString: ccurl_easy_strerror(code)).lowercasedFirst
            if osErrno != 0 { message += " (" + Errno.message(Int32(osErrno)) + ")" }
            if Self.transient(code), x.attempts < maxAttempts { return retry(x, because: "the connection failed") }
            return finish(x, error: ImageError(message))
        }
        if (300..<400).contains(r.status), r.status != 304, let location = redirect {
            x.redirects += 1
            guard x.redirects <= 10 else { return finish(x, error: ImageError("\(x.request.url): too many redirects")) }
            if URLParts(location)?.authority != URLParts(x.request.url)?.authority {
                // The token is for the registry; a storage host gets a signed URL instead.
                x.request.authorization = nil
                x.note = " (redirected to another host: no Authorization header)"
            } else {
                x.note = " (redirected)"
            }
            x.request.url = location
            x.attempts -= 1
            x.notBefore = 0
            return true
        }
        if r.status == 401, !x.reauthorized, let reauthorize = x.reauthorize {
            x.reauthorized = true
            let challenges = r.allHeaders("WWW-Authenticate").flatMap(AuthChallenge.parse)
            if let auth = try reauthorize(challenges) {
                x.request.authorization = auth
                x.note = " (again, with credentials)"
                x.attempts -= 1
                x.notBefore = 0
                return true
            }
        }
        if r.status == 429 || (500..<600).contains(r.status) && r.status != 501 && r.status != 505, x.attempts < maxAttempts {
            let after = r.header("Retry-After").flatMap { UInt64($0) }.map { min($0, 10) * 1000 }
            return retry(x, because: "the registry answered \(r.status)", waitMillis: after)
        }
        x.response = r
        x.finished = true
        return false
    }

    private func retry(_ x: HTTPExchange, because reason: String, waitMillis: UInt64? = nil) -> Bool {
        let wait = waitMillis ?? backoffMillis << UInt64(max(x.attempts - 1, 0))
        x.notBefore = MonotonicClock.now() + wait * 1_000_000
        x.note = " (retry \(x.attempts) of \(maxAttempts - 1): \(reason), waited \(wait) ms)"
        return true
    }

    private func finish(_ x: HTTPExchange, error: any Error) -> Bool {
        x.error = error
        x.finished = true
        return false
    }

    static func transient(_ code: CURLcode) -> Bool {
        [CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING,
         CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM].contains(code)
    }
}

// libcurl's callbacks: C function pointers that find their exchange through the user pointer.
private let onBody: ccurl_data_callback = { data, size, count, user in
    guard let data, let user else { return 0 }
    let x = Unmanaged<HTTPExchange>.fromOpaque(user).takeUnretainedValue()
    return x.receive(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
}

private let onSend: ccurl_data_callback = { data, size, count, user in
    guard let data, let user else { return 0 }
    let x = Unmanaged<HTTPExchange>.fromOpaque(user).takeUnretainedValue()
    // CURL_READFUNC_ABORT stops the transfer when the source fails.
    return x.send(UnsafeMutableRawBufferPointer(start: data, count: size * count)).map { $0 } ?? 0x1000_0000
}

private let onHeader: ccurl_data_callback = { data, size, count, user in
    guard let data, let user else { return 0 }
    let x = Unmanaged<HTTPExchange>.fromOpaque(user).takeUnretainedValue()
    x.receiveHeader(String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self))
    return size * count
}

/// The parts of an http(s) URL that matter here.
struct URLParts: Equatable {
    var scheme: String
    /// host[:port], lower-cased.
    var authority: String
    var pathAndQuery: String

    init?(_ url: String) {
        guard let r = url.firstRange(of: "://") else { return nil }
        scheme = url[..<r.lowerBound].lowercased()
        let rest = url[r.upperBound...]
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        authority = rest[..<slash].lowercased()
        pathAndQuery = String(rest[slash...])
        if scheme == "https", authority.hasSuffix(":443") { authority = String(authority.dropLast(4)) }
        if scheme == "http", authority.hasSuffix(":80") { authority = String(authority.dropLast(3)) }
    }
}

/// Percent-encoding of a query value (RFC 3986 unreserved characters stay).
func percentEncode(_ s: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for c in s.utf8 {
        if (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 46 || c == 95 || c == 126 {
            out.append(c)
        } else {
            out += [37, hex[Int(c >> 4)], hex[Int(c & 15)]]
        }
    }
    return String(decoding: out, as: UTF8.self)
}

extension String {
    var lowercasedFirst: String { prefix(1).lowercased() + dropFirst() }
}
