# hf_own_headers(<target> <folder>)
#
# Gives <target> an include root that holds only <folder>: a link
# build/include/<folder>/<folder> to the source folder. Code that uses the
# target includes "<folder>/x.h"; the headers of another folder of ours are
# found only through the library that owns them. So a wrong include (operator/
# including agent/) fails to build instead of being held by discipline.
function(hf_own_headers target folder)
  set(root ${CMAKE_BINARY_DIR}/include/${folder})
  if(NOT IS_SYMLINK ${root}/${folder})
    file(MAKE_DIRECTORY ${root})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${root}/${folder} SYMBOLIC)
  endif()
  target_include_directories(${target} PUBLIC ${root})
endfunction()
