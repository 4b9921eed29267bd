// The TLS series of /metrics, in Prometheus text format, written straight from the
// process-wide TlsStats (a histogram's cumulative buckets are made here, at scrape time).
#pragma once

#include <string>

namespace sp::proxy {

// Appends the TLS families for every side with TLS on (nothing when TLS is off).
void append_tls_metrics(std::string& out);

}  // namespace sp::proxy
