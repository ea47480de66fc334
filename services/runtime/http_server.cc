#include "services/runtime/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <civetweb.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/log.h"

namespace smartby {
namespace {

std::once_flag g_civetweb_init;

int LogCivetwebMessage(const mg_connection*, const char* message) {
  log::Warn("metrics http server", {{"detail", std::string(message)}});
  return 1;  // handled: civetweb prints nothing itself
}

// Opens and closes a connection to the listener, so that civetweb's accept loop wakes up at
// once instead of after its 2-second poll timeout (see build-notes.md on the Exposer).
void PokeListener(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  }
  ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::close(fd);
}

}  // namespace

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(const std::string& path, Handler handler) {
  handlers_[path] = std::move(handler);
}

absl::Status HttpServer::Start(const std::string& listen_address) {
  std::call_once(g_civetweb_init, [] { mg_init_library(0); });
  const size_t colon = listen_address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(listen_address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen: \"", listen_address, "\" is not HOST:PORT"));
  }
  host_ = listen_address.substr(0, colon);
  if (host_ == "localhost") host_ = "127.0.0.1";
  const std::string ports = absl::StrCat(host_.empty() ? "0.0.0.0" : host_, ":", port);
  const char* options[] = {"listening_ports", ports.c_str(),
                           "num_threads", "4",
                           "request_timeout_ms", "10000",
                           "enable_keep_alive", "yes",
                           nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = LogCivetwebMessage;
  context_ = mg_start(&callbacks, this, options);
  if (context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "--metrics_listen: cannot listen on ", listen_address, " (is the port in use?)"));
  }
  mg_set_request_handler(context_, "/", &HttpServer::Dispatch, this);
  mg_server_port bound[4];
  const int n = mg_get_server_ports(context_, 4, bound);
  port_ = n > 0 ? bound[0].port : port;
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (context_ == nullptr) return;
  mg_context* context = context_;
  context_ = nullptr;
  std::atomic<bool> stopped{false};
  std::thread stopper([context, &stopped] {
    mg_stop(context);
    stopped = true;
  });
  // A poke that lands before mg_stop has raised its flag is accepted as a normal connection, so
  // keep poking until the listener has noticed.
  const std::string host = host_ == "0.0.0.0" || host_.empty() ? "127.0.0.1" : host_;
  for (int i = 0; i < 200 && !stopped.load(); ++i) {
    PokeListener(host, port_);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stopper.join();
}

int HttpServer::Dispatch(mg_connection* connection, void* self) {
  auto* server = static_cast<HttpServer*>(self);
  const mg_request_info* request = mg_get_request_info(connection);
  HttpResponse response;
  const std::string path = request->local_uri != nullptr ? request->local_uri : "";
  auto it = server->handlers_.find(path);
  if (std::strcmp(request->request_method, "GET") != 0 &&
      std::strcmp(request->request_method, "HEAD") != 0) {
    response = {405, "text/plain; charset=utf-8", "only GET is served here\n"};
  } else if (it == server->handlers_.end()) {
    response = {404, "text/plain; charset=utf-8", "not found\n"};
  } else {
    response = it->second();
  }
  mg_printf(connection,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\n\r\n",
            response.status, mg_get_response_code_text(connection, response.status),
            response.content_type.c_str(), response.body.size());
  if (std::strcmp(request->request_method, "HEAD") != 0) {
    mg_write(connection, response.body.data(), response.body.size());
  }
  return response.status;
}

}  // namespace smartby
