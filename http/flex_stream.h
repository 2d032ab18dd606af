// A client-port connection's byte stream: plain TCP, or TLS over it (issue
// 19). Chosen when the connection starts, at run time, so that the
// connection code and Beast's parsers are compiled once for both (a template
// over two stream types would compile the Beast unit twice).
//
// TLS is asio::ssl::stream over the tcp_stream itself, so Beast's timeouts
// (tcp().expires_after) bound the handshake and every TLS read and write as
// they bound plain ones. flat_stream joins a head and body written as two
// buffers into one TLS record: Asio's SSL stream would seal each buffer alone.
//
// Included by server.cpp only (the one Beast translation unit). Used on one
// connection's strand, like the tcp_stream it wraps.
#pragma once

#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <memory>
#include <utility>

#include "tls/store.h"

namespace synod::http {

class FlexStream {
 public:
  using TlsStream = boost::beast::flat_stream<boost::asio::ssl::stream<boost::beast::tcp_stream&>>;
  using executor_type = boost::beast::tcp_stream::executor_type;

  template <class Arg>
  explicit FlexStream(Arg&& socket_or_executor) : tcp_(std::forward<Arg>(socket_or_executor)) {}

  executor_type get_executor() noexcept { return tcp_.get_executor(); }
  boost::beast::tcp_stream& tcp() { return tcp_; }
  boost::asio::ip::tcp::socket& socket() { return tcp_.socket(); }

  // Speaks TLS from now on, with a context of `contexts` (kept alive while
  // the connection lasts: a reload does not reach open connections).
  void use_tls(std::shared_ptr<const tls::Contexts> contexts, boost::asio::ssl::context& context) {
    contexts_ = std::move(contexts);
    tls_ = std::make_unique<TlsStream>(tcp_, context);
  }
  bool tls() const { return tls_ != nullptr; }
  boost::asio::ssl::stream<boost::beast::tcp_stream&>& ssl() { return tls_->next_layer(); }

  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Handler>(handler));
    tcp_.async_read_some(buffers, std::forward<Handler>(handler));
  }

  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Handler>(handler));
    tcp_.async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  boost::beast::tcp_stream tcp_;
  std::shared_ptr<const tls::Contexts> contexts_;
  std::unique_ptr<TlsStream> tls_;
};

}  // namespace synod::http
