#include "kube/status.h"

#include <gtest/gtest.h>

namespace hf::kube {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ReasonNamesRoundTrip) {
  for (Reason r : {Reason::kNotFound, Reason::kConflict, Reason::kAlreadyExists, Reason::kInvalid,
                   Reason::kForbidden, Reason::kGone, Reason::kTooManyRequests}) {
    EXPECT_EQ(ReasonFromString(ReasonName(r)), r) << ReasonName(r);
  }
  EXPECT_EQ(ReasonFromString("Expired"), Reason::kGone);
  EXPECT_EQ(ReasonFromString("SomethingNew"), Reason::kUnknown);
}

TEST(StatusTest, HttpCodesMapToReasons) {
  EXPECT_EQ(ReasonFromHttpCode(404), Reason::kNotFound);
  EXPECT_EQ(ReasonFromHttpCode(409), Reason::kConflict);
  EXPECT_EQ(ReasonFromHttpCode(410), Reason::kGone);
  EXPECT_EQ(ReasonFromHttpCode(422), Reason::kInvalid);
  EXPECT_EQ(ReasonFromHttpCode(429), Reason::kTooManyRequests);
  EXPECT_EQ(ReasonFromHttpCode(201), Reason::kOk);
  EXPECT_EQ(ReasonFromHttpCode(418), Reason::kUnknown);
}

TEST(StatusTest, CarriesRetryAfterAndMessage) {
  Status s(Reason::kTooManyRequests, "slow down", 429);
  s.set_retry_after(std::chrono::seconds(3));
  EXPECT_TRUE(IsTooManyRequests(s));
  EXPECT_EQ(s.http_code(), 429);
  ASSERT_TRUE(s.retry_after().has_value());
  EXPECT_EQ(s.retry_after()->count(), 3);
  EXPECT_EQ(s.ToString(), "TooManyRequests: slow down");
}

TEST(StatusOrTest, HoldsValueOrStatus) {
  StatusOr<int> v = 7;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 7);
  EXPECT_TRUE(v.status().ok());

  StatusOr<int> e = Status(Reason::kNotFound, "gone fishing", 404);
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(IsNotFound(e.status()));
}

}  // namespace
}  // namespace hf::kube
