// A small HTTP server for the metrics port: /metrics (Prometheus text format), /healthz,
// /readyz, and whatever else a service registers (auth will publish its JWKS here).
// Built on civetweb, which prometheus-cpp itself uses; we own the server so that health
// endpoints and extra documents can live beside /metrics.
#ifndef SMARTBY_RUNTIME_HTTP_SERVER_H_
#define SMARTBY_RUNTIME_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

struct mg_context;
struct mg_connection;

namespace smartby {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;

  HttpServer() = default;
  ~HttpServer();  // stops

  // Register before Start(). Only GET is served; exact path match.
  void Handle(const std::string& path, Handler handler);

  // Binds "host:port" (port 0 picks a free port). INVALID_ARGUMENT/UNAVAILABLE with the reason
  // when the address cannot be bound.
  absl::Status Start(const std::string& listen_address);
  int port() const { return port_; }
  void Stop();

 private:
  static int Dispatch(mg_connection* connection, void* self);
  mg_context* context_ = nullptr;
  std::string host_;
  int port_ = 0;
  std::map<std::string, Handler> handlers_;
};

}  // namespace smartby

#endif  // SMARTBY_RUNTIME_HTTP_SERVER_H_
